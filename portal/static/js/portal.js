// Small progressive enhancements; no inline scripts (CSP).
(function () {
  "use strict";
  // Buttons with data-confirm ask before submitting their form (irreversible actions).
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
  // Elements with data-width="NN" get that percentage width (progress bars) without inline styles.
  function applyWidths(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      el.style.width = el.getAttribute("data-width") + "%";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { applyWidths(document); });
  window.portalApplyWidths = applyWidths;
})();
