// Leadline's own script (no inline script anywhere: the CSP forbids it). Progressive enhancement only: every
// action also works without it, through ordinary forms.
(function () {
  "use strict";

  // Selects marked data-autosubmit submit their form when changed (the language switch, period pickers).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });

  // Pipeline: drag a card onto a column = choose that column in the card's own move form and submit it.
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target instanceof Element ? event.target.closest(".kcard") : null;
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-lead") || "");
  });
  document.addEventListener("dragover", function (event) {
    var column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (column && dragged) { event.preventDefault(); column.classList.add("over"); }
  });
  document.addEventListener("dragleave", function (event) {
    var column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (column) { column.classList.remove("over"); }
  });
  document.addEventListener("drop", function (event) {
    var column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (!column || !dragged) { return; }
    event.preventDefault();
    column.classList.remove("over");
    var form = dragged.querySelector("form.move");
    var select = form ? form.querySelector("select[name=to]") : null;
    var key = column.getAttribute("data-column");
    dragged = null;
    if (!form || !select || !key) { return; }
    if (!select.querySelector('option[value="' + key + '"]')) { return; }  // dropped on its own column
    select.value = key;
    form.requestSubmit();
  });
})();
