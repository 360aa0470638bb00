/* The review player (templates/review/_timeline.html): frame stepping and timecodes in the
   video's own frame rate, the playhead on the marker track, Mark in / Mark out for a
   comment, drawings shown over the video at their moment, and drawing on the paused frame
   (pen, arrow, box) into the comment form's hidden `drawing` field as 0..1 vectors.
   Strict CSP: no inline handlers or styles; SVG attributes only. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var VIEWBOX = 1000;

  function fpsOf(root) { return parseFloat(root.getAttribute("data-fps")) || 24; }

  function frameOf(seconds, fps) { return Math.floor(seconds * fps + 1e-6); }

  function timecode(seconds, fps) {
    var base = Math.max(1, Math.round(fps));
    var frames = frameOf(Math.max(0, seconds), fps);
    var frame = frames % base;
    var whole = Math.floor(frames / base);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(Math.floor(whole / 3600)) + ":" + pad(Math.floor(whole / 60) % 60) + ":" +
      pad(whole % 60) + ":" + pad(frame);
  }

  function step(video, fps, frames) {
    video.pause();
    var target = frameOf(video.currentTime, fps) + frames;
    var last = video.duration ? frameOf(video.duration, fps) - 1 : target;
    target = Math.max(0, Math.min(target, last));
    // Half a frame in: lands inside the frame whatever the decoder rounds to.
    video.currentTime = (target + 0.5) / fps;
  }

  function update(root) {
    var video = root.querySelector("video");
    if (!video) return;
    var fps = fpsOf(root);
    var t = video.currentTime;
    var out = root.querySelector("[data-timecode]");
    if (out) out.textContent = timecode(t, fps);
    var length = parseFloat(root.getAttribute("data-length")) || video.duration || 1;
    var head = root.querySelector("[data-playhead]");
    if (head) head.setAttribute("x", String(Math.min(VIEWBOX - 3, (t / length) * VIEWBOX)));
    var half = 0.5 / fps;
    root.querySelectorAll("[data-drawing]").forEach(function (g) {
      var start = parseFloat(g.getAttribute("data-start"));
      var end = parseFloat(g.getAttribute("data-end"));
      // A moment's drawing shows on its frame, and for half a second while playing.
      var until = Math.max(end, start) + (video.paused ? half + 1 / fps : 0.5);
      g.classList.toggle("is-shown", t >= start - half && t < until);
    });
    var play = root.querySelector("[data-play]");
    if (play) play.textContent = video.paused ? "Play" : "Pause";
  }

  function loop(root) {
    var video = root.querySelector("video");
    update(root);
    if (video && !video.paused) window.requestAnimationFrame(function () { loop(root); });
  }

  function playerFor(el) {
    var id = el.getAttribute("data-video");
    var root = id && document.querySelector('[data-review-player][data-video="' + id + '"]');
    return root || document.querySelector("[data-review-player]");
  }

  // ------------------------------------------------------------------ drawing

  function drawingState(form) {
    if (!form._drawing) form._drawing = { shapes: [], current: null };
    return form._drawing;
  }

  function shapeNode(shape, w, h) {
    var pts = shape.points.map(function (p) {
      return (p[0] * w).toFixed(1) + "," + (p[1] * h).toFixed(1);
    });
    var node;
    if (shape.tool === "box") {
      var a = shape.points[0], b = shape.points[shape.points.length - 1];
      node = document.createElementNS(SVG, "rect");
      node.setAttribute("x", String(Math.min(a[0], b[0]) * w));
      node.setAttribute("y", String(Math.min(a[1], b[1]) * h));
      node.setAttribute("width", String(Math.abs(b[0] - a[0]) * w));
      node.setAttribute("height", String(Math.abs(b[1] - a[1]) * h));
    } else {
      node = document.createElementNS(SVG, "polyline");
      node.setAttribute("points", shape.tool === "arrow" ? [pts[0], pts[pts.length - 1]].join(" ") : pts.join(" "));
    }
    node.setAttribute("class", "ink ink-" + shape.color);
    return node;
  }

  function redraw(form) {
    var root = playerFor(form);
    var draft = root && root.querySelector("[data-draft]");
    if (!draft) return;
    var state = drawingState(form);
    while (draft.firstChild) draft.removeChild(draft.firstChild);
    var all = state.shapes.concat(state.current ? [state.current] : []);
    var box = draft.ownerSVGElement.viewBox.baseVal;
    all.forEach(function (shape) { draft.appendChild(shapeNode(shape, box.width, box.height)); });
    var field = form.querySelector('input[name="drawing"]');
    if (field) field.value = state.shapes.length ? JSON.stringify(state.shapes) : "";
    var count = form.querySelector("[data-draw-count]");
    if (count) {
      count.textContent = state.shapes.length ? state.shapes.length + " shape" +
        (state.shapes.length === 1 ? "" : "s") + " drawn." : "No drawing.";
    }
  }

  // Where the pointer is on the frame, 0..1 each way: through the layer's own transform,
  // so the letterboxing around the video (viewBox in the video's shape) is left out.
  function pointIn(layer, event) {
    var point = layer.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var at = point.matrixTransform(layer.getScreenCTM().inverse());
    var box = layer.viewBox.baseVal;
    var clamp = function (v) { return Math.round(Math.max(0, Math.min(1, v)) * 10000) / 10000; };
    return [clamp(at.x / box.width), clamp(at.y / box.height)];
  }

  function wireDrawing(form) {
    var root = playerFor(form);
    var layer = root && root.querySelector("[data-drawing-layer]");
    var tools = form.querySelector("[data-draw-tools]");
    if (!layer || !tools || form._wired) return;
    form._wired = true;
    tools.hidden = false;
    var toggle = form.querySelector("[data-draw-toggle]");
    toggle.addEventListener("change", function () {
      layer.classList.toggle("is-drawing", toggle.checked);
      var video = root.querySelector("video");
      if (toggle.checked && video) video.pause();
    });
    layer.addEventListener("pointerdown", function (event) {
      if (!toggle.checked) return;
      event.preventDefault();
      var state = drawingState(form);
      var tool = form.querySelector("[data-draw-tool]").value;
      var colour = form.querySelector("[data-draw-colour]").value;
      var p = pointIn(layer, event);
      state.current = { tool: tool, color: colour, points: [p, p] };
      layer.setPointerCapture(event.pointerId);
      redraw(form);
    });
    layer.addEventListener("pointermove", function (event) {
      var state = drawingState(form);
      if (!state.current) return;
      var p = pointIn(layer, event);
      if (state.current.tool === "pen") {
        if (state.current.points.length < 500) state.current.points.push(p);
      } else {
        state.current.points[1] = p;
      }
      redraw(form);
    });
    var finish = function () {
      var state = drawingState(form);
      if (!state.current) return;
      if (state.shapes.length < 20) state.shapes.push(state.current);
      state.current = null;
      redraw(form);
    };
    layer.addEventListener("pointerup", finish);
    layer.addEventListener("pointercancel", finish);
    form.querySelector("[data-draw-clear]").addEventListener("click", function () {
      drawingState(form).shapes = [];
      redraw(form);
    });
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("click", function (event) {
    var el = event.target.closest && event.target.closest("[data-step], [data-play], [data-mark]");
    if (!el) return;
    if (el.hasAttribute("data-mark")) {
      var form = el.closest("form");
      var root = playerFor(form);
      var video = root && root.querySelector("video");
      if (!video) return;
      var fps = fpsOf(root);
      var name = el.getAttribute("data-mark") === "in" ? "start_seconds" : "end_seconds";
      var input = form.querySelector('input[name="' + name + '"]');
      input.value = (frameOf(video.currentTime, fps) / fps).toFixed(3);
      input.dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }
    var player = el.closest("[data-review-player]");
    var v = player && player.querySelector("video");
    if (!v) return;
    if (el.hasAttribute("data-play")) {
      if (v.paused) { v.play(); } else { v.pause(); }
    } else {
      step(v, fpsOf(player), parseInt(el.getAttribute("data-step"), 10));
    }
  });

  function init(scope) {
    if (!scope || !scope.querySelectorAll) return;
    scope.querySelectorAll("[data-review-player]").forEach(function (root) {
      if (root._wired) return;
      root._wired = true;
      root.querySelectorAll("[data-transport] [hidden]").forEach(function (b) { b.hidden = false; });
      var video = root.querySelector("video");
      if (!video) return;
      ["timeupdate", "seeked", "loadedmetadata", "pause"].forEach(function (name) {
        video.addEventListener(name, function () { update(root); });
      });
      video.addEventListener("play", function () { loop(root); });
      update(root);
    });
    scope.querySelectorAll("[data-comment-form]").forEach(function (form) {
      form.querySelectorAll("[data-mark]").forEach(function (b) { b.hidden = false; });
      wireDrawing(form);
    });
  }

  window.studioTimeline = { timecode: timecode, step: step, playerFor: playerFor };

  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
