"""Identity providers as a site configures them, and the sign-in flows in progress: the rows
every protocol (OIDC, SAML) and the login use case share, with their SQL."""
