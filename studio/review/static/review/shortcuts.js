/* Reviewing at speed (templates/review/generation.html): keyboard shortcuts for the player,
   the verdict and the queue, listed in the `?` dialog; "tick all" on the review queue.
   Keys are ignored while typing in a field. Strict CSP: wired up from here. */
(function () {
  "use strict";

  var RATES = [1, 2, 4];

  function typing(event) {
    var el = event.target;
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return el.isContentEditable || tag === "textarea" || tag === "select" ||
      (tag === "input" && !/^(checkbox|radio|button|submit)$/.test(el.type));
  }

  function click(selector) {
    var el = document.querySelector(selector);
    if (el) el.click();
    return Boolean(el);
  }

  function decide(verdict, video) {
    var form = document.querySelector(".decision-form");
    var radio = form && form.querySelector('input[name="verdict"][value="' + verdict + '"]');
    if (!radio) return;
    radio.checked = true;
    if (verdict === "approved") {
      form.requestSubmit();
      return;
    }
    var at = form.querySelector('input[name="at_seconds"]');
    var fps = parseFloat((video.closest("[data-review-player]") || video).getAttribute("data-fps")) || 24;
    if (at && !at.value) at.value = (Math.floor(video.currentTime * fps + 1e-6) / fps).toFixed(3);
    var comment = form.querySelector('textarea[name="comment"]');
    if (comment) comment.focus();
  }

  function play(video, faster) {
    var index = RATES.indexOf(video.playbackRate);
    if (faster && !video.paused) {
      video.playbackRate = RATES[Math.min(RATES.length - 1, index + 1)];
    } else {
      video.playbackRate = 1;
    }
    video.play();
  }

  function handle(event, keys) {
    var video = document.getElementById(keys.getAttribute("data-video"));
    var dialog = document.getElementById("shortcuts");
    var key = event.key;  // "?" opens the page's list: studio.js, for every page
    if (dialog && dialog.open) return false;
    if (!video) return false;
    var step = window.studioTimeline && window.studioTimeline.step;
    var fps = parseFloat(video.closest("[data-review-player]").getAttribute("data-fps")) || 24;
    switch (key.length === 1 ? key.toLowerCase() : key) {
      case " ": if (video.paused) { play(video, false); } else { video.pause(); } return true;
      case "k": video.pause(); return true;
      case "l": play(video, true); return true;
      case "j": video.pause(); video.currentTime = Math.max(0, video.currentTime - 1); return true;
      case "ArrowLeft": case ",": if (step) step(video, fps, -1); return true;
      case "ArrowRight": case ".": if (step) step(video, fps, 1); return true;
      case "i": return click('[data-comment-form] [data-mark="in"]');
      case "o": return click('[data-comment-form] [data-mark="out"]');
      case "m": return comment();
      case "a": decide("approved", video); return true;
      case "c": decide("changes", video); return true;
      case "n": return click("[data-key-next]");
      case "p": return click("[data-key-previous]");
      default: return false;
    }
  }

  function comment() {
    if (!click('[data-comment-form] [data-mark="in"]')) return false;
    var body = document.querySelector('[data-comment-form] textarea[name="body"]');
    if (body) body.focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var decision = event.target.closest && event.target.closest(".decision-form");
    if (decision && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      decision.requestSubmit();  // Ctrl+Enter saves the decision, as it sends the studio form
      return;
    }
    var keys = document.querySelector("[data-review-keys]");
    if (!keys || typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (handle(event, keys)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    var all = event.target.closest && event.target.closest("[data-tick-all]");
    if (!all) return;
    all.form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
  });

  function init() {
    document.querySelectorAll("[data-shortcuts-open], [data-tick-all], [data-tick-all-label]")
      .forEach(function (el) { el.hidden = false; });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
