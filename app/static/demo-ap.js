// `make demo` only (DEMO=true): stands in for Atlassian's all.js, since no Jira frames the
// admin page. The context token the demo printed travels in the link's fragment (never sent to
// the server in a URL) and is handed to the page's Connect host adapter as AP would.
(function () {
  "use strict";
  var token = (window.location.hash.match(/[#&]demo=([^&]+)/) || [])[1] || "";
  window.AP = {
    context: { getToken: function (callback) { callback(decodeURIComponent(token)); } },
    sizeToParent: function () {},
    resize: function () {}
  };
})();
