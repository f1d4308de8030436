// Posts a SAML message on from a page of this service (the HTTP-POST binding): the identity
// provider's answer back to us with our flow cookie (app/login/routes.py: assertion_consumer),
// or the Guard bridge's Response to Atlassian (app/portal/guard.py). Without scripts, the
// page's button does the same.
document.getElementById("saml-post").submit();
