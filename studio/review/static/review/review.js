/* Review and budgets: the live cost estimate beside the studio form, "use current time"
   for a reviewer's comment, and comment times that seek the video.
   Strict CSP: no inline handlers; wired up from here. */
(function () {
  "use strict";

  function readJSON(id) {
    var blob = document.getElementById(id);
    return blob ? JSON.parse(blob.textContent) : null;
  }

  // Same rules as studio/review/pricing.py: a listed duration, else per_second; sound_factor.
  function estimate(prices, caps, form) {
    var els = form.elements;
    if (!els.model_name) return null;
    var model = els.model_name.value;
    var spec = caps && caps.models[model];
    var mode = spec && spec.modes.length === 0 ? "" : (els.mode && els.mode.value) || "std";
    var duration = els.duration ? els.duration.value : "5";
    var table = (prices[model] || {})[mode];
    if (!table) return null;
    var units;
    if (table[duration] !== undefined) units = parseFloat(table[duration]);
    else if (table.per_second !== undefined) units = parseFloat(table.per_second) * parseInt(duration, 10);
    else return null;
    if (els.sound && els.sound.value === "on" && table.sound_factor !== undefined) {
      units *= parseFloat(table.sound_factor);
    }
    return Math.round(units * 1000) / 1000;
  }

  function updateEstimate() {
    var form = document.getElementById("generate-form");
    var panel = document.getElementById("budget-panel");
    if (!form || !panel) return;
    var prices = readJSON("unit-prices");
    if (!prices) return;
    var units = estimate(prices, readJSON("capabilities"), form);
    var out = panel.querySelector("[data-estimate]");
    if (out) out.textContent = units === null ? "unknown" : units + (units === 1 ? " unit" : " units");
    var left = panel.getAttribute("data-budget-left");
    var over = units !== null && left !== "" && left !== null && units > parseFloat(left);
    panel.classList.toggle("is-over", over);
    var warning = panel.querySelector("[data-budget-over]");
    if (warning) warning.hidden = !over;
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#generate-form")) updateEstimate();
  });

  // ------------------------------------------------------------------ reviewing

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
    if (root.id === "budget-panel" || root.id === "generate-form" || root.querySelector("#budget-panel")) {
      updateEstimate();
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
