// The reference implementation bench/jwt.py measures side by side with the service: an
// atlassian-connect-express (ACE) app as its own template sets one up, with ACE's default
// store (Sequelize on an in-memory SQLite), one site installed, and one admin-API-like route
// behind ACE's checkValidToken() middleware (which skips the qsh check). Per request ACE reads the site's clientInfo from
// the store (one SQLite read), verifies the HS256 signature with its shared secret, checks
// expiry, and signs a session token into a response header; the route answers a small JSON.
//
// Environment: ACE_PORT, ACE_CLIENT_KEY, ACE_SHARED_SECRET. Prints "ready" when it listens.
"use strict";

process.env.NODE_ENV = "production";
const express = require("express");
const ace = require("atlassian-connect-express");

const port = Number(process.env.ACE_PORT);
const app = express();
app.set("env", "production");
app.set("port", port);
const addon = ace(app, {
  config: {
    production: {
      localBaseUrl: `http://127.0.0.1:${port}`,
      port,
      store: { adapter: "sequelize", type: "memory", logging: false },
      setupInstallRoute: false,
    },
  },
});

// As ACE's template does: parsed bodies (where ACE also looks for a token), then ACE's own
// request middleware.
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
app.use(addon.middleware());

app.get("/api/admin/idps", addon.checkValidToken(), (req, res) => {
  res.json({ clientKey: res.locals.clientKey, user: res.locals.userAccountId });
});

(async () => {
  // What ACE's /installed route stores once Jira's install hook is verified.
  await addon.settings.set(
    "clientInfo",
    {
      key: "portal-sso-bench-ace",
      clientKey: process.env.ACE_CLIENT_KEY,
      sharedSecret: process.env.ACE_SHARED_SECRET,
      baseUrl: "https://bench.atlassian.net",
      productType: "jira",
      eventType: "installed",
    },
    process.env.ACE_CLIENT_KEY,
  );
  app.listen(port, "127.0.0.1", () => console.log("ready"));
})();
