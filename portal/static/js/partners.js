// Agency pages: show the chosen licence file's size and warn before uploading more than 5 MB.
(function () {
  "use strict";
  var LIMIT = 5 * 1024 * 1024;
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input || input.type !== "file" || input.name !== "licence" || !input.files || !input.files[0]) {
      return;
    }
    var tooBig = input.files[0].size > LIMIT;
    input.classList.toggle("is-invalid", tooBig);
    input.setCustomValidity(tooBig ? (input.getAttribute("data-too-big") || "> 5 MB") : "");
  });
})();
