"""The sign-in use case, one home for it: start a login at the customer's identity provider,
complete it (a verified identity from a protocol package: ``app.oidc`` today), provision the
customer in JSM, open the portal session, and record the attempt.

``service`` holds the rules; ``routes`` is the HTTP glue (the IdP's callback, the admin's test
link, and the redirect that starts a login, which the portal uses); ``sessions`` and ``audit``
hold their tables' statements; ``provisioner`` is the interface provisioning implements.
"""
