/* Kling Prompt Studio, library: the little behaviour the library's parts need.
   Strict CSP: no inline handlers; everything is wired up from here. */
(function () {
  "use strict";

  // A button with data-confirm asks before its form is sent (deleting a prompt or preset).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // Picking a preset in the studio form applies it at once (the button stays for keyboards
  // and for browsers without JavaScript).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.closest) return;
    if (target.id === "id_add_preset" && target.value) {
      var apply = target.parentNode.querySelector("button");
      if (apply) apply.click();
      return;
    }
    // A value changed by hand is no longer the preset's: drop its "from preset" note.
    var form = target.closest("#generate-form");
    if (!form || !target.name) return;
    var name = target.name.indexOf("camera_") === 0 ? "camera_type" : target.name;
    form.querySelectorAll('[data-set-by="' + name + '"]').forEach(function (item) {
      item.hidden = true;
    });
  });
})();
