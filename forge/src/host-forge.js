// The admin page's host adapter in Forge: calls reach the service through @forge/bridge's
// invokeRemote (Forge adds the invocation token and the app system token on the way, per the
// admin-api endpoint in manifest.yml); new windows open through router.open, as Custom UI
// may not open them itself. Built into static/admin/host.js by `npm run build`.
import { invokeRemote, router } from "@forge/bridge";

window.PortalSSOHost = {
  request: function (method, path, body) {
    var call = { path: "/api/admin" + path, method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) call.body = body;
    return invokeRemote(call).then(function (response) {
      return { status: response.status, body: response.body };
    });
  },
  openWindow: function (urlPromise) {
    return urlPromise.then(function (url) { return router.open(url); });
  }
};
