/* Catalog pages: submit the filters as soon as a select changes. */
(function () {
  "use strict";
  document.querySelectorAll(".catalog-filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
