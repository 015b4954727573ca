// Progress page of a background job: polls GET /jobs/<id>?format=json until the job is done,
// then goes to its result page. State lives on the server, so a reload picks up where it was.
(function () {
  "use strict";
  var box = document.querySelector("[data-job-poll]");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var bar = box.querySelector("[data-job-bar]");
  var meter = box.querySelector("[data-job-progress]");
  var statusEl = box.querySelector("[data-job-status]");
  var messageEl = box.querySelector("[data-job-message]");
  var errorBox = box.querySelector("[data-job-error]");
  var errorText = box.querySelector("[data-job-error-text]");
  var nextBox = box.querySelector("[data-job-next]");
  var nextLink = box.querySelector("[data-job-next-link]");
  var failures = 0;

  function render(state) {
    var pct = Math.max(0, Math.min(100, state.progress || 0));
    bar.style.width = pct + "%";
    bar.textContent = pct + "%";
    meter.setAttribute("aria-valuenow", String(pct));
    if (statusEl && state.status_label) { statusEl.textContent = state.status_label; }
    if (messageEl) { messageEl.textContent = state.message || ""; }
    if (state.status === "failed") {
      bar.classList.remove("progress-bar-animated");
      bar.classList.add("bg-danger");
      errorBox.classList.remove("d-none");
      errorText.textContent = state.message || "";
      if (messageEl) { messageEl.textContent = ""; }
    }
    if (state.status === "done") {
      bar.classList.remove("progress-bar-animated");
      bar.classList.add("bg-success");
      if (state.url) {
        nextLink.setAttribute("href", state.url);
        nextBox.classList.remove("d-none");
        window.location.assign(state.url);
      } else if (messageEl && !state.message) {
        messageEl.textContent = box.getAttribute("data-text-done");
      }
    }
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        render(state);
        if (!state.finished) { window.setTimeout(poll, 1000); }
      })
      .catch(function () {
        failures += 1;
        if (messageEl) { messageEl.textContent = box.getAttribute("data-text-lost"); }
        window.setTimeout(poll, Math.min(10000, 1000 * failures));
      });
  }

  var initial = {};
  try { initial = JSON.parse(box.getAttribute("data-state") || "{}"); } catch (e) { initial = {}; }
  render(initial);
  if (!initial.finished) { window.setTimeout(poll, 500); }
}());
