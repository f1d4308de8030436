"""Admin iframe pages and the admin JSON API."""
