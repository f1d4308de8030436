"""Operator commands, each run as ``python -m app.cli.<name>``: ``migrate`` (the schema, under
a PostgreSQL advisory lock), ``serve`` (the workers), ``reencrypt`` (secrets under the first
of ENCRYPTION_KEYS), ``tenant_data`` (a site's data, exported or erased). ``commands`` is
their shared start-up and error handling."""
