/* Kling Prompt Studio: results that play where they appear (queue cards, history, gallery,
   batch page), picking generations to compare in the history, one control for all
   videos on the compare page, and "Start from this frame" on the generation page.
   The studio form's script: composer/composer.js.
   Strict CSP: no inline handlers, no eval; everything is wired up from here. */
(function () {
  "use strict";

  // ------------------------------------------------------------------ results play in place

  // A box is templates/_media.html: [data-inline-video] around a link with the poster.
  // Click plays it with controls and sound; a mouse hovering plays a muted preview. One
  // plays at a time. The video is made only then, with preload="none": nothing loads
  // before someone asks.
  var playingBox = null;
  var hoverable = window.matchMedia && window.matchMedia("(hover: hover) and (pointer: fine)");

  function stopInline(box) {
    var video = box.querySelector("video");
    if (video) {
      video.pause();
      video.remove();
    }
    box.classList.remove("is-playing", "is-previewing");
    if (playingBox === box) playingBox = null;
  }

  function startInline(box, preview) {
    window.clearTimeout(box.hoverTimer);
    if (preview && box.classList.contains("is-playing")) return;
    if (playingBox && playingBox !== box) stopInline(playingBox);
    playingBox = box;
    var video = box.querySelector("video");
    if (!video) {
      video = document.createElement("video");
      video.preload = "none";
      video.playsInline = true;
      var img = box.querySelector("img");
      if (img) video.poster = img.currentSrc || img.src;
      video.src = box.getAttribute("data-inline-video");
      video.setAttribute("aria-label", box.querySelector(".media-link").getAttribute("aria-label").replace(/^Play: /, ""));
      box.appendChild(video);
    }
    video.muted = preview;
    video.loop = preview;
    video.controls = !preview;
    box.classList.toggle("is-previewing", preview);
    box.classList.toggle("is-playing", !preview);
    var started = video.play();
    if (started && started.catch) started.catch(function () {});
    if (!preview) video.focus();
  }

  function initInline(box) {
    if (box.dataset.inlineReady) return;
    box.dataset.inlineReady = "1";
    var link = box.querySelector(".media-link");
    link.setAttribute("role", "button");
    link.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;  // a new tab
      event.preventDefault();
      startInline(box, false);
    });
    link.addEventListener("keydown", function (event) {
      if (event.key === " ") {  // a button answers Space too
        event.preventDefault();
        startInline(box, false);
      }
    });
    box.addEventListener("click", function (event) {  // a click on a preview keeps it playing, with sound
      if (event.target.tagName === "VIDEO" && box.classList.contains("is-previewing")) startInline(box, false);
    });
    box.addEventListener("pointerenter", function (event) {
      if (event.pointerType !== "mouse" || !hoverable || !hoverable.matches) return;
      if (playingBox && playingBox.classList.contains("is-playing")) return;  // never cut off a chosen one
      box.hoverTimer = window.setTimeout(function () { startInline(box, true); }, 200);
    });
    box.addEventListener("pointerleave", function () {
      window.clearTimeout(box.hoverTimer);
      if (box.classList.contains("is-previewing")) stopInline(box);
    });
  }

  // A video started from its own controls stops the one playing elsewhere.
  document.addEventListener("play", function (event) {
    var box = event.target.closest && event.target.closest("[data-inline-video]");
    if (box && playingBox && playingBox !== box) stopInline(playingBox);
    if (box) playingBox = box;
  }, true);

  // ------------------------------------------------------------------ queue cards: add to compare

  // Picks last for the tab (sessionStorage), so they survive the queue's swaps and a reload.
  var PICKS = "studio-compare-picks";
  var MAX_PICKS = 4;

  function picks() {
    try { return JSON.parse(window.sessionStorage.getItem(PICKS)) || []; } catch (e) { return []; }
  }

  function savePicks(list) {
    try { window.sessionStorage.setItem(PICKS, JSON.stringify(list)); } catch (e) { /* private mode */ }
    showPicks();
  }

  function showPicks() {
    var list = picks();
    document.querySelectorAll("[data-compare-add]").forEach(function (button) {
      button.hidden = false;
      button.setAttribute("aria-pressed", list.indexOf(button.getAttribute("data-compare-add")) >= 0 ? "true" : "false");
    });
    var tray = document.querySelector("[data-compare-tray]");
    if (!tray) return;
    tray.hidden = list.length === 0;
    var go = tray.querySelector("[data-compare-go]");
    go.textContent = "Compare " + list.length + " picked";
    go.href = go.getAttribute("data-base") + "?ids=" + list.join(",");
    var ready = list.length >= 2;
    go.classList.toggle("primary", ready);
    if (ready) go.removeAttribute("aria-disabled"); else go.setAttribute("aria-disabled", "true");
    tray.querySelector("[data-compare-help]").textContent = ready ? "" : "Pick one more to compare.";
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest && event.target.closest("[data-compare-add]");
    var clear = event.target.closest && event.target.closest("[data-compare-clear]");
    var go = event.target.closest && event.target.closest("[data-compare-go]");
    if (go && go.getAttribute("aria-disabled") === "true") event.preventDefault();
    if (clear) savePicks([]);
    if (!add) return;
    var id = add.getAttribute("data-compare-add");
    var list = picks().filter(function (x) { return x !== id; });
    if (list.length === picks().length) list.push(id);
    if (list.length > MAX_PICKS) list.shift();  // four at most: the oldest pick makes room
    savePicks(list);
  });

  // ------------------------------------------------------------------ history: pick to compare

  function updateCompare(form) {
    var picked = Array.prototype.filter.call(form.elements, function (el) {
      return el.name === "ids" && el.checked;
    }).length;
    var button = form.querySelector("[data-compare-button]");
    var status = form.querySelector("[data-compare-status]");
    var ok = picked >= 2 && picked <= 4;
    if (button) button.disabled = !ok;
    if (status) {
      status.textContent = picked === 0 ? "Tick two to four to compare them side by side."
        : picked + " selected" + (ok ? "." : picked < 2 ? ": tick at least two." : ": four at most.");
    }
  }

  document.addEventListener("change", function (event) {
    var compare = event.target.form;  // the boxes join the form by its id (history.html)
    if (compare && compare.matches("[data-compare-form]")) updateCompare(compare);
  });

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

  // ------------------------------------------------------------------ generation: start from this frame

  // The form sends the time the player shows; without JavaScript it sends 0 (the first frame).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-frame-at]")) return;
    var live = form.closest("#generation-live") || document;
    var video = live.querySelector("video");
    if (video && isFinite(video.currentTime)) {
      form.elements.at.value = video.currentTime.toFixed(3);
    }
  });

  // ------------------------------------------------------------------ wiring

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-compare-form]").forEach(updateCompare);
    root.querySelectorAll("[data-sync-group]").forEach(initSync);
    root.querySelectorAll("[data-inline-video]").forEach(initInline);
    if (root.querySelector("[data-compare-add], [data-compare-tray]")) showPicks();
  }

  if (window.htmx) {
    window.htmx.onLoad(init);  // the page, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
