/* Kling Prompt Studio: the little behaviour the pages need.
   Strict CSP: no inline handlers, no eval; everything is wired up from here. */
(function () {
  "use strict";

  // ------------------------------------------------------------------ the generate form

  var capabilities = null;

  function readCapabilities() {
    if (capabilities) return capabilities;
    var blob = document.getElementById("capabilities");
    capabilities = blob ? JSON.parse(blob.textContent) : null;
    return capabilities;
  }

  function setReason(form, name, text) {
    var p = form.querySelector('[data-reason-for="' + name + '"]');
    if (!p) return;
    p.textContent = text || "";
    p.hidden = !text;
  }

  function sameOptions(select, values) {
    if (select.options.length !== values.length) return false;
    for (var i = 0; i < values.length; i++) {
      if (select.options[i].value !== values[i]) return false;
    }
    return true;
  }

  function setDurations(select, durations) {
    if (sameOptions(select, durations)) return;
    var current = select.value;
    select.innerHTML = "";
    durations.forEach(function (d) {
      select.add(new Option(d + " s", d));
    });
    if (durations.indexOf(current) >= 0) select.value = current;
    else if (durations.indexOf("5") >= 0) select.value = "5";
  }

  function describePairs(pairs) {
    return pairs.map(function (p) { return p[0] + " mode at " + p[1] + " s"; }).join(" or ");
  }

  // Fit the fields to what the chosen model accepts (capabilities.py, rendered by json_script).
  function adaptForm(form) {
    var caps = readCapabilities();
    var els = form.elements;
    if (!caps || !els.model_name) return;
    var spec = caps.models[els.model_name.value];
    if (!spec) return;

    var hasModes = spec.modes.length > 0;
    els.mode.disabled = !hasModes;
    setReason(form, "mode", hasModes ? "" : spec.label + " has no std/pro split, so no mode is sent.");

    setDurations(els.duration, spec.durations);

    els.cfg_scale.disabled = !spec.cfg_scale;
    els.cfg_scale.placeholder = spec.cfg_scale ? "0.5" : "";
    setReason(form, "cfg_scale", spec.cfg_scale ? "" :
      spec.label + " does not take cfg_scale; only the Kling 1.x models do.");

    var camera = form.querySelector("[data-camera]");
    if (camera) {
      var mode = hasModes ? els.mode.value : "std";
      var allowed = spec.camera_control.some(function (p) {
        return p[0] === mode && p[1] === els.duration.value;
      });
      camera.disabled = !allowed;
      var why = "";
      if (!spec.camera_control.length) {
        why = spec.label + " takes no camera control on text-to-video; only Kling 1.0 in std mode at 5 s does.";
      } else if (!allowed) {
        why = spec.label + " takes camera control only in " + describePairs(spec.camera_control) + ".";
      }
      setReason(form, "camera_type", why);
      var axes = form.querySelector("[data-camera-axes]");
      if (axes) axes.hidden = els.camera_type.value !== "simple";
    }

    var note = form.querySelector("[data-model-note]");
    if (note) {
      note.textContent = spec.note || "";
      note.hidden = !spec.note;
    }
  }

  // Python counts code points, so count them here too (not UTF-16 units).
  function updateCount(counter) {
    var field = document.getElementById(counter.getAttribute("data-count-for"));
    if (!field) return;
    var limit = parseInt(counter.getAttribute("data-limit"), 10);
    var length = Array.from(field.value.replace(/\r\n/g, "\n")).length;
    counter.textContent = length + " / " + limit;
    counter.classList.toggle("over", length > limit);
  }

  function countersFor(field) {
    return document.querySelectorAll('[data-count-for="' + field.id + '"]');
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("#generate-form");
    if (form) adaptForm(form);
    var compare = event.target.closest && event.target.closest("[data-compare-form]");
    if (compare) updateCompare(compare);
  });

  document.addEventListener("input", function (event) {
    if (event.target.id) countersFor(event.target).forEach(updateCount);
  });

  // Ctrl+Enter (Cmd+Enter on a Mac) sends the form, through htmx when it is loaded.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    var form = event.target.closest && event.target.closest("#generate-form");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button && button.disabled) return;
    form.requestSubmit(button || undefined);
  });

  // ------------------------------------------------------------------ history: pick to compare

  function updateCompare(form) {
    var picked = form.querySelectorAll('input[name="ids"]:checked').length;
    var button = form.querySelector("[data-compare-button]");
    var status = form.querySelector("[data-compare-status]");
    var ok = picked >= 2 && picked <= 4;
    if (button) button.disabled = !ok;
    if (status) {
      status.textContent = picked === 0 ? "Tick two to four to compare them side by side."
        : picked + " selected" + (ok ? "." : picked < 2 ? ": tick at least two." : ": four at most.");
    }
  }

  // ------------------------------------------------------------------ compare: one control for all

  function formatTime(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  function initSync(group) {
    if (group.dataset.syncReady) return;
    var videos = Array.prototype.slice.call(group.querySelectorAll("video[data-sync]"));
    var controls = document.querySelector("[data-sync-controls]");
    if (videos.length < 2 || !controls) return;
    group.dataset.syncReady = "1";
    var play = controls.querySelector("[data-sync-play]");
    var seek = controls.querySelector("[data-sync-seek]");
    var time = controls.querySelector("[data-sync-time]");
    var mute = controls.querySelector("[data-sync-mute]");
    controls.hidden = false;
    videos.forEach(function (v) { v.controls = false; });

    function longest() {
      return videos.reduce(function (a, b) {
        return (isFinite(b.duration) ? b.duration : 0) > (isFinite(a.duration) ? a.duration : 0) ? b : a;
      });
    }
    function playing() { return videos.some(function (v) { return !v.paused && !v.ended; }); }
    function showState() {
      play.textContent = playing() ? "Pause all" : "Play all";
      var clock = longest();
      var total = isFinite(clock.duration) ? clock.duration : 0;
      if (total) seek.value = Math.round((clock.currentTime / total) * 1000);
      time.textContent = formatTime(clock.currentTime) + " / " + formatTime(total);
    }
    function seekAll(t) {
      videos.forEach(function (v) {
        if (isFinite(v.duration)) v.currentTime = Math.min(t, v.duration);
      });
    }
    function toggle() {
      if (playing()) {
        videos.forEach(function (v) { v.pause(); });
      } else {
        var clock = longest();
        if (clock.ended || clock.currentTime >= clock.duration) seekAll(0);
        var t = clock.currentTime;
        videos.forEach(function (v) {
          if (t < v.duration) {
            v.currentTime = t;
            var started = v.play();
            if (started && started.catch) started.catch(function () {});
          }
        });
      }
    }

    play.addEventListener("click", toggle);
    seek.addEventListener("input", function () {
      var clock = longest();
      if (isFinite(clock.duration)) seekAll((seek.value / 1000) * clock.duration);
      showState();
    });
    mute.addEventListener("change", function () {
      videos.forEach(function (v) { v.muted = mute.checked; });
    });
    videos.forEach(function (v) {
      v.addEventListener("click", toggle);
      ["play", "pause", "ended", "loadedmetadata"].forEach(function (name) {
        v.addEventListener(name, showState);
      });
    });
    // Keep the others within a few frames of the longest video while they play.
    videos[0].addEventListener("timeupdate", function () {
      var clock = longest();
      videos.forEach(function (v) {
        if (v !== clock && !v.paused && clock.currentTime < v.duration &&
            Math.abs(v.currentTime - clock.currentTime) > 0.25) {
          v.currentTime = clock.currentTime;
        }
      });
      showState();
    });
    showState();
  }

  // ------------------------------------------------------------------ wiring

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    var form = root.id === "generate-form" ? root : root.querySelector("#generate-form");
    if (form) adaptForm(form);
    root.querySelectorAll("[data-count-for]").forEach(updateCount);
    if (root.matches && root.matches("[data-count-for]")) updateCount(root);
    root.querySelectorAll("[data-compare-form]").forEach(updateCompare);
    root.querySelectorAll("[data-sync-group]").forEach(initSync);
  }

  if (window.htmx) {
    window.htmx.onLoad(init);  // the page, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
