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

  // ------------------------------------------------------------------ running cards: the clock

  var ticking = null;

  function tick() {
    var lines = document.querySelectorAll("[data-elapsed]");
    if (!lines.length) {
      window.clearInterval(ticking);
      ticking = null;
      return;
    }
    var now = Date.now();
    lines.forEach(function (line) {
      if (!line.renderedAt) line.renderedAt = now;
      var took = parseInt(line.getAttribute("data-elapsed"), 10) + Math.floor((now - line.renderedAt) / 1000);
      var clock = line.querySelector("[data-clock]");
      if (clock) clock.textContent = formatTime(took);
      var expected = parseInt(line.getAttribute("data-expected"), 10);
      var bar = line.querySelector("progress");
      if (bar && expected) {
        bar.value = Math.min(took, expected);
        var note = line.querySelector("[data-expected-note]");
        if (took > expected && note) note.textContent = "taking longer than the usual " + Math.max(1, Math.round(expected / 60)) + " min";
      }
    });
  }

  function startTicking(root) {
    if (!root.querySelector("[data-elapsed]")) return;
    tick();
    if (!ticking) ticking = window.setInterval(tick, 1000);
  }

  // ------------------------------------------------------------------ activity: title, favicon, notices

  // #activity (base.html) carries your running and finished counts; it is swapped by the
  // page's one poll. The counts go into the tab title and a badge on the favicon; the
  // announcer speaks a change once; opted-in notifications say what finished.
  var baseTitle = document.title;
  var baseIcon = null;
  var spoken = "";
  var NOTIFY = "studio-notify";
  var NOTIFIED = "studio-notified";

  function showActivity(box) {
    var running = parseInt(box.getAttribute("data-running"), 10) || 0;
    var finished = parseInt(box.getAttribute("data-finished"), 10) || 0;
    var parts = [];
    if (running) parts.push(running + " running");
    if (finished) parts.push(finished + " done");
    document.title = (parts.length ? "(" + parts.join(", ") + ") " : "") + baseTitle;
    badgeFavicon(running, finished);
    var text = parts.length ? parts.join(", ").replace("done", "finished") + "." : "";
    var announcer = document.getElementById("activity-announcer");
    if (announcer && text !== spoken) {
      if (spoken || finished) announcer.textContent = text;  // not on page load: nothing changed yet
      spoken = text;
    }
    setUpNotifyToggle(box);
    notifyFinished(box);
  }

  function badgeFavicon(running, finished) {
    var link = document.querySelector('link[rel="icon"]');
    if (!link) return;
    if (!baseIcon) baseIcon = link.href;
    if (!running && !finished) {
      if (link.href !== baseIcon) link.href = baseIcon;
      return;
    }
    var img = new Image();
    img.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = canvas.height = 32;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, 32, 32);
      ctx.beginPath();
      ctx.arc(23, 9, 9, 0, 2 * Math.PI);
      ctx.fillStyle = running ? "#2f5fd0" : "#1d7a46";
      ctx.fill();
      ctx.fillStyle = "#fff";
      ctx.font = "bold 13px sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(String(Math.min(running || finished, 9)), 23, 10);
      link.href = canvas.toDataURL("image/png");
      link.setAttribute("data-badge", running ? "running-" + running : "done-" + finished);
    };
    img.src = baseIcon;
  }

  function notifyOn() {
    try { return window.localStorage.getItem(NOTIFY) === "on"; } catch (e) { return false; }
  }

  function setUpNotifyToggle(box) {
    var toggle = box.querySelector("[data-notify-toggle]");
    if (!toggle || !("Notification" in window) || Notification.permission === "denied") return;
    var on = notifyOn() && Notification.permission === "granted";
    toggle.hidden = false;
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.textContent = on ? "Notifications on" : "Notify me when done";
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-notify-toggle]");
    if (!toggle) return;
    if (notifyOn() && Notification.permission === "granted") {
      try { window.localStorage.setItem(NOTIFY, "off"); } catch (e) { /* private mode */ }
      setUpNotifyToggle(toggle.closest("[data-activity]"));
      return;
    }
    Notification.requestPermission().then(function (answer) {
      try { window.localStorage.setItem(NOTIFY, answer === "granted" ? "on" : "off"); } catch (e) { /* private mode */ }
      var box = document.getElementById("activity");
      if (box) setUpNotifyToggle(box);
    });
  });

  // Each finished job or batch is notified once, across tabs (ids kept in localStorage).
  function notifyFinished(box) {
    if (!notifyOn() || !("Notification" in window) || Notification.permission !== "granted") return;
    var seen;
    try { seen = JSON.parse(window.localStorage.getItem(NOTIFIED)) || []; } catch (e) { seen = []; }
    box.querySelectorAll("[data-done]").forEach(function (item) {
      var id = item.getAttribute("data-done");
      if (seen.indexOf(id) >= 0) return;
      seen.push(id);
      var note = new Notification(item.getAttribute("data-done-title"), {
        body: item.getAttribute("data-done-body"), tag: id
      });
      note.onclick = function () { window.focus(); window.location.href = item.getAttribute("data-done-url"); };
    });
    try { window.localStorage.setItem(NOTIFIED, JSON.stringify(seen.slice(-200))); } catch (e) { /* private mode */ }
  }

  // ------------------------------------------------------------------ the nav's menu

  // A disclosure (base.html): on a narrow screen the CSS folds the links and the account
  // away behind the button, which opens them; Escape closes the menu and puts the focus back
  // on the button. Without this script the button stays hidden and the links stay open.
  function initMenu() {
    var toggle = document.querySelector("[data-menu-toggle]");
    var menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (!menu) return;
    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }
    toggle.closest("nav").classList.add("has-menu");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
      if (!toggle.closest("nav").contains(document.activeElement)) return;
      setOpen(false);
      toggle.focus();
    });
  }

  initMenu();  // deferred: the header is parsed by now

  // ------------------------------------------------------------------ keyboard shortcuts

  // Listed in the ? dialog (base.html). Never while typing in a field, nor with Ctrl/Alt/Meta.
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function toggleShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || !dialog.showModal) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-open]")) toggleShortcuts();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) return;
    var dialog = document.getElementById("shortcuts");
    if (event.key === "?") {
      event.preventDefault();
      toggleShortcuts();
    } else if (event.key === "/" && dialog && dialog.hasAttribute("data-can-write")) {
      var prompt = document.getElementById("id_prompt");
      var home = document.querySelector("a.brand");
      event.preventDefault();
      if (prompt) prompt.focus();
      else if (home) window.location.href = home.href + "#id_prompt";
    } else if (event.key === "h") {
      var history = document.querySelector('.nav-links a[href$="/history/"]');
      if (history) window.location.href = history.href;
    }
  });

  // Arriving at the studio from "/" elsewhere: the prompt takes the focus.
  if (window.location.hash === "#id_prompt") {
    document.addEventListener("DOMContentLoaded", function () {
      var prompt = document.getElementById("id_prompt");
      if (prompt) prompt.focus();
    });
  }

  // ------------------------------------------------------------------ archive: the focus stays in the list

  // Archive on a card or tile removes it (templates/_archive.html, hx-swap delete): the
  // focus moves to the next one's prompt link (or the previous one's), not to the page top.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.requestConfig && event.detail.requestConfig.elt;
    var gone = event.detail.target;
    if (!form || !form.matches(".archive-form") || gone === form) return;
    if (!event.detail.shouldSwap) return;
    var next = gone.nextElementSibling || gone.previousElementSibling;
    var link = next && (next.querySelector(".card-prompt a") || next.querySelector("a, button"));
    if (link) window.setTimeout(function () { link.focus(); }, 0);
  });

  // ------------------------------------------------------------------ live regions: once each

  // A live region speaks whenever its content is replaced, even by the same words. Two
  // polls can both carry a status change (one still out when the next is sent, as after
  // Generate swaps in a new poller): the second, identical announcement is not swapped in.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || target.getAttribute("aria-live") === null || !fragment) return;
    if ((fragment.textContent || "").trim() === target.textContent.trim()) event.detail.shouldSwap = false;
  });

  // ------------------------------------------------------------------ wiring

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-compare-form]").forEach(updateCompare);
    root.querySelectorAll("[data-sync-group]").forEach(initSync);
    root.querySelectorAll("[data-inline-video]").forEach(initInline);
    if (root.querySelector("[data-compare-add], [data-compare-tray]")) showPicks();
    startTicking(root);
    var box = root.id === "activity" ? root : root.querySelector("#activity");
    if (box) showActivity(box);
  }

  if (window.htmx) {
    window.htmx.onLoad(init);  // the page, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
