/* Review: "use current time" for a reviewer's comment, and comment times that seek the
   video (the studio form's cost estimate: composer/composer.js).
   Strict CSP: no inline handlers; wired up from here. */
(function () {
  "use strict";

  function videoFor(id) {
    return (id && document.getElementById(id)) || document.querySelector("video");
  }

  document.addEventListener("click", function (event) {
    var use = event.target.closest && event.target.closest("[data-use-time]");
    if (use) {
      var video = videoFor(use.getAttribute("data-use-time"));
      var input = document.getElementById(use.getAttribute("data-time-input"));
      if (video && input) {
        input.value = (Math.round(video.currentTime * 10) / 10).toFixed(1);
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
      return;
    }
    var seek = event.target.closest && event.target.closest("[data-seek]");
    if (seek) {
      var target = videoFor(seek.getAttribute("data-seek-video"));
      if (target) {
        target.currentTime = parseFloat(seek.getAttribute("data-seek"));
        target.pause();
        target.scrollIntoView({ block: "nearest" });
      }
    }
  });

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    // The button needs a script; without one the number field still works.
    root.querySelectorAll("[data-use-time]").forEach(function (b) { b.hidden = false; });
  }

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
