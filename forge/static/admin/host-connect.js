// The admin page's host adapter on a Connect site (the legacy way in): every call carries a
// fresh context JWT from AP.context.getToken() to the service's admin API, whose path the
// page that loads this script names in data-api.
(function () {
  "use strict";
  var API = document.currentScript.getAttribute("data-api");

  function token() {
    return new Promise(function (resolve, reject) {
      if (!window.AP || !AP.context) { reject(new Error("This page must be opened from Jira (Apps → Portal SSO).")); return; }
      AP.context.getToken(function (jwt) { resolve(jwt); });
    });
  }

  window.PortalSSOHost = {
    request: function (method, path, body) {
      return token().then(function (jwt) {
        var options = { method: method, headers: { "Authorization": "JWT " + jwt, "Accept": "application/json" } };
        if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
        return fetch(API + path, options);
      }).then(function (response) {
        if (response.status === 204) return { status: 204, body: null };
        return response.json().then(
          function (data) { return { status: response.status, body: data }; },
          function () { return { status: response.status, body: null }; }
        );
      });
    },
    // The window is opened at the click, before the URL is known: a popup opened later, after
    // the API answered, is blocked as unrequested.
    openWindow: function (urlPromise) {
      var popup = window.open("about:blank", "portal-sso-test");
      return urlPromise.then(function (url) {
        if (popup) popup.location.href = url; else window.open(url, "portal-sso-test");
      }, function (error) { if (popup) popup.close(); throw error; });
    }
  };
})();
