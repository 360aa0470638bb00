/* Kling Prompt Studio, library: asking before a prompt or preset is deleted, and the
   import page's drop zone (the studio form's preset picker: composer/composer.js).
   Strict CSP: no inline handlers; everything is wired up from here. */
(function () {
  "use strict";

  // A button with data-confirm asks before its form is sent (deleting a prompt or preset).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // The import page: a file dropped on [data-drop-zone] becomes its file input's file
  // (the form then sends it as if chosen); the zone names the file it holds.
  function named(zone, input) {
    var label = zone.querySelector("[data-drop-name]");
    if (label) label.textContent = input.files.length ? "Ready to import: " + input.files[0].name : "";
  }

  function wireDropZone(zone) {
    var input = zone.querySelector('input[type="file"]');
    if (!input) return;
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("is-dragover");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("is-dragover"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragover");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      var one = new DataTransfer();
      one.items.add(files[0]);
      input.files = one.files;
      named(zone, input);
    });
    input.addEventListener("change", function () { named(zone, input); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-drop-zone]").forEach(wireDropZone);
  });
})();
