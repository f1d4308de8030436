"""OpenID Connect / OAuth 2.0 relying party: presets, metadata, login flow, validation."""
