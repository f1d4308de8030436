// Portal SSO admin page: plain JavaScript over the admin JSON API, the same in Forge and on a
// Connect site. How a call reaches the service is the host adapter's (window.PortalSSOHost,
// from host.js): invokeRemote in Forge, fetch with a context JWT on Connect. Data is only
// ever put in the page as text.
(function () {
  "use strict";
  var host = window.PortalSSOHost;
  var presets = [];
  var idps = [];
  var editing = null; // the IdP being edited, or null when adding
  var MAPPABLE = [
    ["email", "Email"], ["email_verified", "Email verified"], ["display_name", "Display name"],
    ["first_name", "First name"], ["last_name", "Last name"], ["organizations", "Organizations"], ["groups", "Groups"]
  ];
  var CLIENT_HELP = {
    cognito: "Cognito console → your user pool → App integration → App clients → your app client. Use a client that has a client secret, the Authorization code grant, and the openid, email and profile scopes.",
    entra_id: "Entra admin center → App registrations → your app: Application (client) ID; the secret is under Certificates & secrets.",
    okta: "Okta admin → Applications → your OIDC web app: Client ID and Client secret.",
    google: "Google Cloud console → APIs & Services → Credentials → OAuth 2.0 Client IDs (type Web application)."
  };

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // While a change is on its way, forms wait: a double click on Save would otherwise send it
  // twice, and for a new identity provider that makes two.
  var writing = 0;
  document.addEventListener("submit", function (event) {
    if (writing) { event.preventDefault(); event.stopImmediatePropagation(); }
  }, true);

  function api(method, path, body) {
    if (method === "GET") return request(method, path, body);
    writing += 1;
    $$("form button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    function done() {
      writing -= 1;
      if (!writing) $$("form button[type=submit]").forEach(function (b) { b.removeAttribute("aria-disabled"); });
    }
    return request(method, path, body).then(
      function (data) { done(); return data; },
      function (error) { done(); throw error; }
    );
  }

  function request(method, path, body) {
    if (!host) return Promise.reject(new Error("This page must be opened from Jira (Apps → Portal SSO)."));
    return host.request(method, path, body).then(function (response) {
      var data = response.body;
      if (response.status < 200 || response.status >= 300) {
        var error = new Error((data && data.message) || "Request failed (HTTP " + response.status + ")");
        error.status = response.status; error.data = data || {}; throw error;
      }
      return response.status === 204 ? null : data;
    });
  }

  // A confirmation goes by itself; an error (an alert) stays until the admin acts again or
  // leaves the tab: one that vanished while they looked at their IdP's console was lost.
  function flash(message, kind) {
    var box = $("#flash");
    var error = kind === "error";
    box.textContent = message;
    box.className = "flag " + (kind || "success");
    box.setAttribute("role", error ? "alert" : "status");
    box.hidden = false;
    clearTimeout(flash.timer);
    if (!error) flash.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  function showErrors(form, error) {
    $$("[data-error]", form).forEach(function (p) { p.textContent = ""; });
    $$("[aria-invalid]", form).forEach(function (input) { input.removeAttribute("aria-invalid"); });
    var fields = (error && error.data && error.data.fields) || {};
    Object.keys(fields).forEach(function (name) {
      var slot = $('[data-error="' + name + '"]', form);
      if (slot) slot.textContent = fields[name];
      var input = form.elements[name] || form.elements[name.split(".").pop()];
      if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    });
    if (error) flash(error.data && error.data.fields ? "Some fields need attention." : error.message, "error");
  }

  function copyFrom(selector, button) {
    var text = $(selector).textContent;
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(text); done(); });
    } else { legacyCopy(text); done(); }
  }
  function legacyCopy(text) {
    var area = el("textarea", {}); area.value = text; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selectable */ }
    document.body.removeChild(area);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    if (button) copyFrom(button.getAttribute("data-copy"), button);
  });

  // --- tabs ---------------------------------------------------------------------------------
  var loaders = {};
  function selectTab(tab) {
    clearTimeout(flash.timer);
    $("#flash").hidden = true; // what it said was about the tab being left
    $$("[role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $("#" + t.getAttribute("aria-controls")).hidden = !on;
    });
    var load = loaders[tab.id];
    if (load) load();
  }
  $$("[role=tab]").forEach(function (tab, index, all) {
    tab.addEventListener("click", function () { selectTab(tab); });
    tab.addEventListener("keydown", function (event) {
      var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (step) { var next = all[(index + step + all.length) % all.length]; next.focus(); selectTab(next); }
    });
  });

  // --- identity providers --------------------------------------------------------------------
  function presetOf(key) { return presets.filter(function (p) { return p.key === key; })[0]; }

  function renderIdps() {
    var list = $("#idp-list");
    list.textContent = "";
    if (!idps.length) { list.appendChild(el("p", { "class": "muted", text: "No identity provider yet. Add one to let customers sign in." })); return; }
    var rows = idps.map(function (idp) {
      return el("tr", {}, [
        el("td", {}, [el("strong", { text: idp.name })]),
        el("td", { text: idp.preset_label }),
        el("td", {}, [el("label", { "class": "toggle" }, [
          el("input", { type: "checkbox", "aria-label": "Enabled: " + idp.name, onchange: function (e) { toggleIdp(idp, e.target.checked); } }),
          document.createTextNode(" Enabled")])]),
        el("td", { text: idp.pinned_issuer || (idp.ready ? "configured" : "learned at Test connection") }),
        el("td", { "class": "row-actions" }, [
          el("button", { type: "button", text: "Edit", onclick: function () { openForm(idp); } }),
          el("button", { type: "button", text: "Test connection", onclick: function () { testIdp(idp); } }),
          el("button", { type: "button", "class": "danger", text: "Delete", onclick: function () { deleteIdp(idp); } })
        ])
      ]);
    });
    list.appendChild(el("table", { id: "idp-table" }, [
      el("thead", {}, [el("tr", {}, ["Name", "Provider", "Status", "Issuer", ""].map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", {}, rows)
    ]));
    idps.forEach(function (idp, i) { $$("#idp-table tbody input[type=checkbox]")[i].checked = idp.enabled; });
  }

  function loadIdps() {
    return api("GET", "/idps").then(function (data) { idps = data; renderIdps(); fillMappingChoices(); });
  }

  function renderPresetFields(presetKey, values) {
    var box = $("#preset-fields");
    box.textContent = "";
    var preset = presetOf(presetKey);
    if (!preset) return;
    preset.fields.forEach(function (f) {
      var input;
      if (f.kind === "choice") {
        input = el("select", { id: "f-" + f.name, name: f.name, "data-preset-field": "1" },
          f.choices.map(function (c) { return el("option", { value: c.value, text: c.label }); }));
      } else if (f.kind === "xml") {
        input = el("textarea", { id: "f-" + f.name, name: f.name, "data-preset-field": "1", rows: "6", spellcheck: "false" });
      } else {
        input = el("input", { id: "f-" + f.name, name: f.name, "data-preset-field": "1", placeholder: f.default || "" });
      }
      box.appendChild(el("div", { "class": "field" }, [
        el("label", { "for": "f-" + f.name, text: f.label + (f.required || f.kind === "choice" ? "" : " (optional)") }),
        input,
        f.help ? el("p", { "class": "help", text: f.help }) : null,
        el("p", { "class": "error", "data-error": f.name })
      ]));
      input.value = (values && values[f.name]) || (f.kind === "choice" ? f.default : "") || "";
    });
    var saml = preset.kind === "saml";
    $$("[data-oauth]").forEach(function (field) { field.hidden = saml; });
    $("#client_id").required = !saml;
    $('[data-help="client_id"]').textContent = CLIENT_HELP[presetKey] || "From your identity provider's app registration.";
    $("#signout-line").hidden = presetKey !== "cognito";
  }

  function openForm(idp) {
    editing = idp || null;
    var form = $("#idp-form");
    form.reset();
    showErrors(form, null);
    $("#idp-form-title").textContent = idp ? "Edit " + idp.name : "Add identity provider";
    $("#preset").value = idp ? idp.preset : presets[0].key;
    $("#preset").disabled = !!idp;
    renderPresetFields($("#preset").value, idp);
    if (idp) {
      ["name", "client_id", "scopes", "logout_url"].forEach(function (n) { form.elements[n].value = idp[n] || ""; });
      form.elements.email_domains.value = (idp.email_domains || []).join(", ");
      form.elements.trust_email.checked = idp.trust_email;
      form.elements.enabled.checked = idp.enabled;
      $("#secret-help").textContent = "A secret is stored. Leave empty to keep it, or type a new one.";
      showCallback(idp);
    } else {
      $("#secret-help").textContent = "Stored encrypted; never shown again.";
      $("#callback-box").hidden = true;
      $("#saml-box").hidden = true;
    }
    form.hidden = false;
    $("#add-idp").hidden = true;
    form.elements.name.focus();
  }

  function showCallback(idp) {
    var saml = idp.preset === "saml";
    $("#saml-box").hidden = !saml;
    if (saml) {
      $("#sp-entity-id").textContent = idp.sp_entity_id;
      $("#acs-url").textContent = idp.acs_url;
      $("#sp-metadata-link").href = idp.sp_metadata_url;
      $("#idp-summary").textContent = (idp.idp_entity_id || "") + " — sign-in at " + (idp.idp_sso_url || "");
      var list = $("#idp-certificates");
      list.textContent = "";
      (idp.idp_certificates || []).forEach(function (c) {
        list.appendChild(el("li", { "class": c.expires_soon ? "warning" : "",
          text: "Signing certificate " + c.subject + ", valid until " + c.not_after.slice(0, 10) +
            (c.expires_soon ? " — expires within 30 days: add the new certificate to the IdP's metadata" : "") }));
      });
      $("#callback-box").hidden = true;
      return;
    }
    $("#callback-url").textContent = idp.callback_url;
    $("#signout-url").textContent = idp.signed_out_url;
    $("#signout-line").hidden = idp.preset !== "cognito";
    $("#callback-box").hidden = false;
  }

  function closeForm() { $("#idp-form").hidden = true; $("#add-idp").hidden = false; editing = null; }

  function idpBody(form) {
    var body = {
      name: form.elements.name.value, client_id: form.elements.client_id.value, scopes: form.elements.scopes.value,
      logout_url: form.elements.logout_url.value || null,
      email_domains: form.elements.email_domains.value.split(",").map(function (d) { return d.trim(); }).filter(Boolean),
      trust_email: form.elements.trust_email.checked, enabled: form.elements.enabled.checked
    };
    if (!editing) body.preset = form.elements.preset.value;
    if (form.elements.client_secret.value) body.client_secret = form.elements.client_secret.value;
    $$("[data-preset-field]", form).forEach(function (input) { body[input.name] = input.value || null; });
    return body;
  }

  function saveIdp(event) {
    event.preventDefault();
    var form = event.target;
    var request = editing ? api("PUT", "/idps/" + editing.id, idpBody(form)) : api("POST", "/idps", idpBody(form));
    request.then(function (idp) {
      showErrors(form, null);
      var next = idp.preset === "saml" ? "Import the SP metadata into your IdP" : "Paste the callback URL into your provider";
      flash(editing ? "Saved." : "Saved. " + next + ", then run Test connection.");
      editing = idp;
      $("#idp-form-title").textContent = "Edit " + idp.name;
      $("#preset").disabled = true;
      form.elements.client_secret.value = "";
      $("#secret-help").textContent = "A secret is stored. Leave empty to keep it, or type a new one.";
      showCallback(idp);
      return loadIdps();
    }).catch(function (error) { showErrors(form, error); });
  }

  function toggleIdp(idp, enabled) {
    api("PUT", "/idps/" + idp.id, { enabled: enabled }).then(function () {
      flash(idp.name + (enabled ? " enabled." : " disabled.")); return loadIdps();
    }).catch(function (error) { flash(error.message, "error"); });
  }

  function deleteIdp(idp) {
    if (!window.confirm("Delete " + idp.name + "? Customers can no longer sign in with it.")) return;
    var done = function () { flash(idp.name + " deleted."); return loadIdps(); };
    api("DELETE", "/idps/" + idp.id).then(done).catch(function (error) {
      if (error.status !== 409 || !error.data.desks) { flash(error.message, "error"); return; }
      // Desks' access rules name it: say which, and which it would lock out, before going on.
      var lines = error.data.desks.map(function (d) {
        return "desk " + d.service_desk_id + (d.locked_out ? " (its only provider: the desk is turned off)" : "");
      });
      if (!window.confirm("Access rules name " + idp.name + ": " + lines.join("; ") + ". Delete it anyway?")) return;
      return api("DELETE", "/idps/" + idp.id + "?confirm=true").then(done);
    }).catch(function (error) { flash(error.message, "error"); });
  }

  function testIdp(idp) {
    // Identity providers refuse to be framed: the test runs in a new top-level window, which
    // the host opens its own way (a popup opened at the click on Connect, router.open in Forge).
    host.openWindow(api("POST", "/idps/" + idp.id + "/test").then(function (data) { return data.url; })).then(function () {
      flash("Test connection opened in a new window. Reload this tab afterwards to see a pinned issuer.");
    }).catch(function (error) { flash(error.message, "error"); });
  }

  // --- attribute mapping ---------------------------------------------------------------------
  function fillMappingChoices() {
    var select = $("#mapping-idp");
    var current = select.value;
    select.textContent = "";
    idps.forEach(function (idp) { select.appendChild(el("option", { value: idp.id, text: idp.name })); });
    if (current) select.value = current;
    renderMapping();
  }

  function renderMapping() {
    var idp = idps.filter(function (i) { return i.id === $("#mapping-idp").value; })[0];
    var box = $("#mapping-fields");
    box.textContent = "";
    if (!idp) { box.appendChild(el("p", { "class": "muted", text: "Add an identity provider first." })); return; }
    var list = $("#claim-names");
    list.textContent = "";
    (idp.last_test_claim_names || []).forEach(function (name) { list.appendChild(el("option", { value: name })); });
    $("#mapping-claims-help").textContent = idp.last_test_claim_names.length
      ? "Choices come from the claims seen at the last Test connection (" + idp.last_tested_at + ")."
      : "Run Test connection to see the claims this provider sends; you can type claim names meanwhile.";
    MAPPABLE.forEach(function (pair) {
      box.appendChild(el("div", { "class": "field" }, [
        el("label", { "for": "m-" + pair[0], text: pair[1] }),
        el("input", { id: "m-" + pair[0], name: pair[0], list: "claim-names", placeholder: "claim name" })
      ]));
      $("#m-" + pair[0]).value = idp.attribute_mapping[pair[0]] || "";
    });
  }
  $("#mapping-idp").addEventListener("change", renderMapping);
  $("#mapping-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var mapping = {};
    MAPPABLE.forEach(function (pair) { mapping[pair[0]] = $("#m-" + pair[0]).value.trim(); });
    api("PUT", "/idps/" + $("#mapping-idp").value, { attribute_mapping: mapping })
      .then(function () { flash("Mapping saved."); showErrors(event.target, null); return loadIdps(); })
      .catch(function (error) { showErrors(event.target, error); });
  });

  // --- Jira configuration and settings -------------------------------------------------------
  function fillSettings(settings) {
    var jira = $("#jira-form");
    $$("input[name=jira_auth]", jira).forEach(function (r) { r.checked = r.value === settings.jira_auth; });
    jira.elements.service_account_email.value = settings.service_account_email || "";
    $("#token-help").textContent = settings.has_service_account_token
      ? "A token is stored. Leave empty to keep it." : "Create one at id.atlassian.com → Security → API tokens.";
    $("#service-account").hidden = settings.jira_auth !== "api_token";
    var form = $("#settings-form");
    $$("input[name=landing]", form).forEach(function (r) { r.checked = r.value === settings.landing; });
    form.elements.auto_create_customers.checked = settings.auto_create_customers;
    form.elements.organization_sync.checked = settings.organization_sync;
    form.elements.allowed_email_domains.value = settings.allowed_email_domains.join(", ");
  }
  // The settings forms wait while their values load: a box ticked before the answer came
  // would be unticked by it.
  function settingsLoading(on) {
    $$("#jira-form input, #settings-form input").forEach(function (input) { input.disabled = on; });
  }
  function loadSettings() {
    settingsLoading(true);
    return api("GET", "/settings").then(fillSettings)
      .catch(function (e) { flash(e.message, "error"); })
      .then(function () { settingsLoading(false); });
  }

  $$("#jira-form input[name=jira_auth]").forEach(function (radio) {
    radio.addEventListener("change", function () { $("#service-account").hidden = radio.value !== "api_token" || !radio.checked; });
  });
  $("#jira-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = { jira_auth: $("input[name=jira_auth]:checked", form).value };
    if (body.jira_auth === "api_token") {
      body.service_account_email = form.elements.service_account_email.value;
      if (form.elements.service_account_token.value) body.service_account_token = form.elements.service_account_token.value;
    }
    api("PUT", "/settings", body).then(function (settings) {
      showErrors(form, null); form.elements.service_account_token.value = ""; fillSettings(settings); flash("Jira configuration saved.");
      return loadPortals();
    }).catch(function (error) { showErrors(form, error); });
  });
  $("#verify-jira").addEventListener("click", function () {
    var out = $("#verify-result");
    out.textContent = "Checking…";
    api("POST", "/settings/verify").then(function (result) {
      out.textContent = result.ok
        ? "Connected to Jira as " + (result.display_name || result.account_id) + (result.is_admin ? " (Jira administrator)." : " (not a Jira administrator: creating customers may fail).")
        : "Jira refused: " + result.message;
      out.className = result.ok ? "ok" : "error";
    }).catch(function (error) { out.textContent = error.message; out.className = "error"; });
  });

  function loadPortals() {
    var box = $("#portal-list");
    return api("GET", "/portals").then(function (portals) {
      deskNames = {};
      portals.forEach(function (p) { deskNames[p.service_desk_id] = p.name; });
      box.textContent = "";
      if (!portals.length) { box.appendChild(el("p", { "class": "muted", text: "No service desk found." })); return; }
      box.appendChild(el("table", { id: "portal-table" }, [
        el("thead", {}, [el("tr", {}, ["Service desk", "Project", "Substitute link", "", "Who may enter", ""].map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, portals.map(function (p, i) {
          return el("tr", {}, [
            el("td", { text: p.name }), el("td", { text: p.project_key }),
            el("td", {}, [el("code", { id: "link-" + i, text: p.substitute_link })]),
            el("td", {}, [el("button", { type: "button", "class": "copy", "data-copy": "#link-" + i, text: "Copy" })]),
            el("td", {}, [el("span", { "class": "lozenge access-" + p.access.mode, text: ACCESS_LABELS[p.access.mode] })]),
            el("td", {}, [el("button", { type: "button", text: "Edit access", "aria-label": "Edit access: " + p.name, onclick: function () { openAccess(p); } })])
          ]);
        }))
      ]));
    }).catch(function (error) { box.textContent = ""; box.appendChild(el("p", { "class": "error", text: error.message })); });
  }

  // --- who may enter which portal ---------------------------------------------------------
  var deskNames = {};
  var ACCESS_LABELS = { "default": "site default", "restricted": "restricted", "off": "off" };
  var accessDesk = null;
  function openAccess(portal) {
    accessDesk = portal;
    var form = $("#access-form"), rule = portal.access;
    $("#access-desk").textContent = portal.name;
    $$("input[name=mode]", form).forEach(function (r) { r.checked = r.value === rule.mode; });
    var box = $("#access-idps");
    box.textContent = "";
    idps.forEach(function (idp) {
      box.appendChild(el("label", { "class": "radio" }, [
        el("input", { type: "checkbox", name: "idps", value: idp.id }), document.createTextNode(" " + idp.name)
      ]));
    });
    $$("input[name=idps]", form).forEach(function (c) { c.checked = rule.idps.indexOf(c.value) !== -1; });
    form.elements.email_domains.value = rule.email_domains.join(", ");
    form.elements.claims.value = rule.claims.map(function (c) { return c.claim + " " + c.op + " " + c.value; }).join("\n");
    form.elements.organizations.value = rule.organizations.join(", ");
    form.elements.contact.value = rule.contact;
    showErrors(form, null);
    form.hidden = false;
    form.elements.mode[0].focus();
  }
  function list(value) { return value.split(",").map(function (d) { return d.trim(); }).filter(Boolean); }
  $("#access-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var claims = form.elements.claims.value.split("\n").map(function (line) { return line.trim(); }).filter(Boolean).map(function (line) {
      var parts = line.split(/\s+/);
      return { claim: parts[0] || "", op: parts[1] || "", value: parts.slice(2).join(" ") };
    });
    var body = {
      mode: $("input[name=mode]:checked", form).value,
      idps: $$("input[name=idps]:checked", form).map(function (c) { return c.value; }),
      email_domains: list(form.elements.email_domains.value),
      claims: claims,
      organizations: list(form.elements.organizations.value),
      contact: form.elements.contact.value
    };
    api("PUT", "/portals/" + accessDesk.service_desk_id + "/access", body).then(function () {
      showErrors(form, null); form.hidden = true; flash("Access to " + accessDesk.name + " saved."); return loadPortals();
    }).catch(function (error) {
      // Errors about one claim rule (claims.0.claim) are shown at the claims box.
      if (error.data && error.data.fields) {
        Object.keys(error.data.fields).forEach(function (name) {
          if (name.indexOf("claims.") === 0) error.data.fields.claims = "rule " + (parseInt(name.split(".")[1], 10) + 1) + ": " + error.data.fields[name];
        });
      }
      showErrors(form, error);
    });
  });
  $("#access-cancel").addEventListener("click", function () { $("#access-form").hidden = true; });
  function fillTestProviders() {
    var select = $("#test_idp");
    select.textContent = "";
    idps.forEach(function (idp) { select.appendChild(el("option", { value: idp.id, text: idp.name })); });
  }
  $("#access-test-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target, claims = {};
    showErrors(form, null);
    if (form.elements.claims.value.trim()) {
      try { claims = JSON.parse(form.elements.claims.value); } catch (e) {
        showErrors(form, { message: "Some fields need attention.", data: { fields: { claims: "write the claims as JSON, like {\"groups\": [\"partners\"]}" } } });
        return;
      }
    }
    var body = {
      idp_id: form.elements.idp_id.value, email: form.elements.email.value.trim(), claims: claims,
      from_last_test: form.elements.from_last_test.checked, organizations: list(form.elements.organizations.value)
    };
    var box = $("#access-test-result");
    api("POST", "/portals/access/test", body).then(function (data) {
      box.textContent = "";
      if (!data.desks.length) { box.appendChild(el("p", { "class": "muted", text: "No desk has rules of its own: every desk follows the site's default." })); return; }
      box.appendChild(el("table", { id: "access-test-table" }, [
        el("thead", {}, [el("tr", {}, ["Desk", "Let in?", "Because"].map(function (h) { return el("th", { text: h }); }))]),
        el("tbody", {}, data.desks.map(function (d) {
          return el("tr", {}, [el("td", { text: deskNames[d.service_desk_id] || d.service_desk_id }), el("td", { text: d.allowed ? "yes" : "no" }), el("td", { text: d.because })]);
        }))
      ]));
    }).catch(function (error) { showErrors(form, error); });
  });

  $("#settings-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = {
      landing: $("input[name=landing]:checked", form).value,
      auto_create_customers: form.elements.auto_create_customers.checked,
      organization_sync: form.elements.organization_sync.checked,
      allowed_email_domains: form.elements.allowed_email_domains.value.split(",").map(function (d) { return d.trim(); }).filter(Boolean)
    };
    api("PUT", "/settings", body).then(function (settings) { showErrors(form, null); fillSettings(settings); flash("Settings saved."); })
      .catch(function (error) { showErrors(form, error); });
  });

  // --- native portal (Atlassian Guard) -------------------------------------------------------
  function fillGuard(view) {
    $("#guard-entity-id").textContent = view.entity_id;
    $("#guard-sso-url").textContent = view.sso_url;
    $("#guard-metadata-url").textContent = view.metadata_url;
    $("#guard-certificate").textContent = view.keys[0].certificate_pem;
    var form = $("#guard-form"), setting = view.setting;
    form.elements.sp_entity_id.value = setting.sp_entity_id;
    form.elements.acs_url.value = setting.acs_url;
    form.elements.sp_certificate.value = setting.sp_certificate || "";
    form.elements.bound_domains_only.checked = setting.bound_domains_only;
    form.elements.enabled.checked = setting.enabled;

    var warnings = $("#guard-warnings");
    warnings.textContent = "";
    view.warnings.forEach(function (w) { warnings.appendChild(el("div", { "class": "flag warning", text: w })); });
    var domains = $("#guard-domains");
    domains.textContent = "";
    var rows = view.domains.map(function (d) {
      return el("tr", { "class": d.shared ? "shared" : "" }, [
        el("td", { text: d.domain }), el("td", { text: d.idps.join(", ") }),
        el("td", {}, [d.shared ? el("span", { "class": "lozenge failure", text: "shared" }) : null])
      ]);
    });
    if (view.unbound_idps.length) {
      rows.push(el("tr", {}, [el("td", { text: "any other domain" }), el("td", { text: setting.bound_domains_only ? "nobody" : view.unbound_idps.join(", ") }), el("td", {})]));
    }
    domains.appendChild(el("table", { id: "guard-domain-table" }, [
      el("thead", {}, [el("tr", {}, ["Email domain", "May be asserted by", ""].map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, [el("td", { colspan: "3", "class": "muted", text: "No identity provider yet." })])])
    ]));

    var keys = $("#guard-keys");
    keys.textContent = "";
    keys.appendChild(el("table", { id: "guard-key-table" }, [
      el("thead", {}, [el("tr", {}, ["Certificate", "Valid until", "Status", ""].map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", {}, view.keys.map(function (k, i) {
        return el("tr", {}, [
          el("td", { text: k.subject }), el("td", { text: new Date(k.not_after).toLocaleDateString() }),
          el("td", { text: k.signing ? "signs now" : "next: give Guard this certificate, then switch" }),
          el("td", {}, [k.signing ? null : el("button", { type: "button", "class": "copy", "data-copy": "#guard-next-certificate", text: "Copy" }),
            k.signing ? null : el("pre", { id: "guard-next-certificate", "class": "certificate", hidden: "", text: k.certificate_pem })])
        ]);
      }))
    ]));
    $("#guard-prepare-key").hidden = view.keys.length > 1;
    $("#guard-switch-key").hidden = view.keys.length < 2;
  }
  function loadGuard() {
    $$("#guard-form input, #guard-form textarea").forEach(function (input) { input.disabled = true; });
    return api("GET", "/guard-bridge").then(fillGuard)
      .catch(function (e) { flash(e.message, "error"); })
      .then(function () { $$("#guard-form input, #guard-form textarea").forEach(function (input) { input.disabled = false; }); });
  }
  $("#guard-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var body = { guard_bridge: {
      enabled: form.elements.enabled.checked,
      sp_entity_id: form.elements.sp_entity_id.value.trim(),
      acs_url: form.elements.acs_url.value.trim(),
      sp_certificate: form.elements.sp_certificate.value.trim() || null,
      bound_domains_only: form.elements.bound_domains_only.checked
    } };
    api("PUT", "/settings", body).then(function () {
      showErrors(form, null);
      flash(body.guard_bridge.enabled ? "Saved: Portal SSO answers Atlassian's sign-in requests." : "Saved. The bridge is off.");
      return loadGuard();
    }).catch(function (error) { showErrors(form, error); });
  });
  $("#guard-prepare-key").addEventListener("click", function () {
    api("POST", "/guard-bridge/keys").then(function (view) { fillGuard(view); flash("The next key is ready. Give Atlassian Guard its certificate, then switch."); })
      .catch(function (error) { flash(error.message, "error"); });
  });
  $("#guard-switch-key").addEventListener("click", function () {
    if (!window.confirm("Has Atlassian Guard got the next certificate? After the switch, sign-ins fail until it has.")) return;
    api("POST", "/guard-bridge/keys/switch").then(function (view) { fillGuard(view); flash("Switched: the next key signs from now on."); })
      .catch(function (error) { flash(error.message, "error"); });
  });

  // --- login activity ------------------------------------------------------------------------
  var before = null;
  function loadLogins(more) {
    if (!more) { before = null; $("#login-table tbody").textContent = ""; }
    return api("GET", "/logins?limit=25" + (before ? "&before=" + before : "")).then(function (data) {
      var body = $("#login-table tbody");
      data.logins.forEach(function (e) {
        body.appendChild(el("tr", { "class": e.outcome }, [
          el("td", { text: new Date(e.time).toLocaleString() }), el("td", { text: e.email || "—" }),
          el("td", { text: (e.idp_name || "—") + (e.purpose === "test" ? " (test)" : e.purpose === "guard" ? " (native portal)" : "") }),
          el("td", {}, [el("span", { "class": "lozenge " + e.outcome, text: e.outcome })]), el("td", { text: e.reason || "" })
        ]));
      });
      if (!body.children.length) body.appendChild(el("tr", {}, [el("td", { colspan: "5", "class": "muted", text: "No sign-ins yet." })]));
      before = data.next_before;
      $("#more-logins").hidden = !before;
    }).catch(function (error) { flash(error.message, "error"); });
  }
  $("#more-logins").addEventListener("click", function () { loadLogins(true); });

  loaders["tab-mapping"] = function () { loadIdps(); };
  loaders["tab-jira"] = function () { loadSettings(); loadPortals(); fillTestProviders(); };
  loaders["tab-settings"] = loadSettings;
  loaders["tab-guard"] = loadGuard;
  loaders["tab-logins"] = function () { loadLogins(false); };

  // --- start ---------------------------------------------------------------------------------
  $("#add-idp").addEventListener("click", function () { openForm(null); });
  $("#cancel-idp").addEventListener("click", closeForm);
  $("#idp-form").addEventListener("submit", saveIdp);
  $("#preset").addEventListener("change", function (e) { renderPresetFields(e.target.value, null); });
  if (/[?&]welcome(=|&|$)/.test(window.location.search)) $("#welcome").hidden = false;
  // Which site this is, and anything about the app's link to it the admin should know.
  api("GET", "/site").then(function (site) {
    if (site.site_url) { $("#site-name").textContent = site.site_url; $("#site-line").hidden = false; }
    if (site.warning) { $("#site-status").textContent = site.warning; $("#site-status").hidden = false; }
  }).catch(function (error) { flash(error.message, "error"); });
  api("GET", "/presets").then(function (data) {
    presets = data;
    presets.forEach(function (p) { $("#preset").appendChild(el("option", { value: p.key, text: p.label })); });
    return loadIdps();
  }).catch(function (error) { flash(error.message, "error"); });
})();
