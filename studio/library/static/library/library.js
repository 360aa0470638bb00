/* Kling Prompt Studio, library: asking before a prompt or preset is deleted (the studio
   form's preset picker: composer/composer.js).
   Strict CSP: no inline handlers; everything is wired up from here. */
(function () {
  "use strict";

  // A button with data-confirm asks before its form is sent (deleting a prompt or preset).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();
