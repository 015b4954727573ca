// Lead pages: customer lookup as the USCC is typed (registration form), select-all (approval queue).
(function () {
  "use strict";

  function setupLookup(form) {
    var uscc = form.querySelector("#customer_uscc");
    var name = form.querySelector("#customer_name");
    var status = document.getElementById("customer-status");
    if (!uscc || !name || !status) { return; }
    var url = form.getAttribute("data-lookup-url");
    var timer = null;
    var lastAsked = null;
    var filledByLookup = false;

    function show(text, cls) {
      status.textContent = text;
      status.className = "small mb-3 " + (cls || "");
    }

    function release() {
      if (filledByLookup) { name.value = ""; }
      filledByLookup = false;
      name.readOnly = false;
    }

    function lookup() {
      var value = uscc.value.trim().toUpperCase();
      if (value.length < 18) { show("", ""); release(); lastAsked = null; return; }
      if (value === lastAsked) { return; }
      lastAsked = value;
      fetch(url + "?uscc=" + encodeURIComponent(value), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (data) {
        if (!data || data.uscc !== uscc.value.trim().toUpperCase()) { return; }
        if (!data.valid) { release(); show(status.getAttribute("data-text-invalid"), "text-danger"); return; }
        if (data.found) {
          name.value = data.name;
          name.readOnly = true;
          filledByLookup = true;
          var text = status.getAttribute("data-text-found").replace("{name}", data.name);
          if (data.named_account) { text += " " + status.getAttribute("data-text-named"); }
          show(text, "text-success");
        } else {
          release();
          show(status.getAttribute("data-text-new"), "text-body-secondary");
        }
      }).catch(function () { /* the server validates on submit anyway */ });
    }

    uscc.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(lookup, 200);
    });
    if (uscc.value) { lookup(); }
  }

  function setupSelectAll() {
    var all = document.getElementById("select-all");
    if (!all) { return; }
    all.addEventListener("change", function () {
      document.querySelectorAll(".lead-select").forEach(function (box) { box.checked = all.checked; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("lead-form");
    if (form) { setupLookup(form); }
    setupSelectAll();
  });
})();
