"""Tenants: one Jira site that installed the app, through Forge or Connect.

``repository`` holds every statement on the ``tenants`` table; ``changes`` announces a change
to every instance; ``cache`` keeps tenant rows and configuration per process until then. Both
platforms (``app.connect``, ``app.forge``) build on this package; it imports neither."""
