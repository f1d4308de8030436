// Progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // Filter request types as the customer types.
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var root = document.querySelector(input.getAttribute("data-filter"));
    if (!root) return;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      root.querySelectorAll("[data-group]").forEach(function (group) {
        var shown = 0;
        group.querySelectorAll("[data-item]").forEach(function (item) {
          var match = !needle || item.getAttribute("data-text").indexOf(needle) !== -1;
          item.hidden = !match;
          if (match) shown += 1;
        });
        group.hidden = shown === 0;
      });
    });
  });
  // While the summary is typed, articles that may answer it (the knowledge base search,
  // rendered by the service) appear under it.
  var suggest = document.getElementById("kb-suggestions");
  var summary = document.getElementById("f-summary");
  if (suggest && summary) {
    var timer = null, asked = "";
    summary.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = summary.value.trim();
        if (q === asked) return;
        asked = q;
        if (q.length < 3) { suggest.textContent = ""; return; }
        fetch(suggest.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) { if (asked === q) suggest.innerHTML = html; })
          .catch(function () { /* suggestions are a help, never in the way */ });
      }, 400);
    });
  }
  // A form is sent once: a double click on Send would otherwise raise the request twice
  // (the browser posts again, and Jira has no way to tell the two apart).
  var forms = document.querySelectorAll("form[method=post]");
  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-sending")) { event.preventDefault(); return; }
      form.setAttribute("data-sending", "");
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.setAttribute("aria-disabled", "true");
      });
    });
  });
  // Back to this page (kept whole by the browser's back-forward cache): it may be sent again.
  window.addEventListener("pageshow", function () {
    forms.forEach(function (form) {
      form.removeAttribute("data-sending");
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.removeAttribute("aria-disabled");
      });
    });
  });
  // A page that confirms a sent form clears its draft.
  document.querySelectorAll("[data-clear-draft]").forEach(function (el) {
    try { window.sessionStorage.removeItem("draft:" + el.getAttribute("data-clear-draft")); } catch (e) { /* ignore */ }
  });
  // Keep what the customer typed if the session expires mid-form: the draft lives in this
  // tab's sessionStorage and comes back when the form is shown again after signing in.
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var key = "draft:" + form.getAttribute("data-draft");
    // Not files: a script can neither read them for a draft nor put them back.
    var fields = form.querySelectorAll("input[name]:not([type=hidden]):not([type=file]), textarea[name], select[name]");
    try {
      var saved = JSON.parse(window.sessionStorage.getItem(key) || "null");
      if (saved) {
        fields.forEach(function (field) {
          if (saved[field.name] === undefined || field.value) return;
          if (field.multiple) {
            Array.prototype.forEach.call(field.options, function (o) { o.selected = saved[field.name].indexOf(o.value) !== -1; });
          } else {
            field.value = saved[field.name];
          }
        });
      }
    } catch (e) { /* storage unavailable: nothing to restore */ }
    function save() {
      var data = {};
      fields.forEach(function (field) {
        data[field.name] = field.multiple
          ? Array.prototype.filter.call(field.options, function (o) { return o.selected; }).map(function (o) { return o.value; })
          : field.value;
      });
      try { window.sessionStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* ignore */ }
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
  });
})();
