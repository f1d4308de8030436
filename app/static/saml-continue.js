// Posts the identity provider's answer on to the service from this page of its own, so the
// browser sends the sign-in's cookie along (see app/login/routes.py: assertion_consumer).
document.getElementById("saml-continue").submit();
