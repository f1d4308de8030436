"""SAML 2.0 as a relying party (a service provider): the protocol only, like ``app/oidc/``.

``xml`` parses what an IdP or its admin sends with everything dangerous off; ``metadata``
reads an IdP's metadata; ``authn`` builds the AuthnRequest for the HTTP-Redirect binding; ``sp_metadata`` writes ours
for the IdP's admin;
``response`` verifies a Response from the HTTP-POST binding and hands back the identity the
signature covers."""
