/* Kling Prompt Studio, the studio page: the generate form fits its fields to what it
   makes (text or image to video) and the chosen model, counts characters, sends on Ctrl+Enter, applies a picked preset at once, and keeps
   the budget panel's cost estimate current.
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

  function currentKind(form) {
    var checked = form.querySelector('input[name="kind"]:checked');
    return checked ? checked.value : "text2video";
  }

  // Show or hide a part of the form; a hidden part's fields are disabled, so not sent.
  function showPart(part, shown) {
    if (!part) return;
    part.hidden = !shown;
    part.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!shown) el.disabled = true;
      else if (el.hasAttribute("data-off-by-kind")) el.disabled = false;
      if (!shown) el.setAttribute("data-off-by-kind", "");
      else el.removeAttribute("data-off-by-kind");
    });
  }

  // Offer only the models of the chosen table; keep the choice when it is in it.
  function fitModels(select, table, fallback) {
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var known = !!table[option.value];
      option.disabled = !known;
      option.hidden = !known;
      if (known && first === null) first = option.value;
    });
    if (!table[select.value]) select.value = table[fallback] ? fallback : first;
  }

  // Image to video (docs/upstream.md §15.1): pictures in, no aspect ratio, sound or camera.
  function adaptKind(form, caps, image) {
    fitModels(form.elements.model_name, image ? caps.image_models : caps.models,
      "kling-v2-6");
    showPart(form.querySelector("[data-pictures]"), image);
    showPart(form.querySelector('[data-field="aspect_ratio"]'), !image);
    showPart(form.querySelector('[data-field="sound"]'), !image);
    showPart(form.querySelector("[data-camera]"), !image);
  }

  function adaptTail(form, spec) {
    var els = form.elements;
    if (!els.image_tail) return;
    var mode = spec.modes.length ? els.mode.value : "";
    var takes = spec.image_tail.some(function (p) {
      return (p[0] === mode || !spec.modes.length) && p[1] === els.duration.value;
    });
    els.image_tail.disabled = !takes;
    var why = "";
    if (!spec.image_tail.length) why = spec.label + " takes no end image.";
    else if (!takes) why = spec.label + " takes an end image only in " + describePairs(spec.image_tail) + ".";
    setReason(form, "image_tail", why);
  }

  // Fit the fields to what the chosen model accepts (capabilities.py, rendered by json_script).
  function adaptForm(form) {
    var caps = readCapabilities();
    var els = form.elements;
    if (!caps || !els.model_name) return;
    var image = currentKind(form) === "image2video";
    adaptKind(form, caps, image);
    var spec = (image ? caps.image_models : caps.models)[els.model_name.value];
    if (!spec) return;

    var hasModes = spec.modes.length > 0;
    els.mode.disabled = !hasModes;
    setReason(form, "mode", hasModes ? "" : spec.label + " has no std/pro split, so no mode is sent.");

    setDurations(els.duration, spec.durations);

    els.cfg_scale.disabled = !spec.cfg_scale;
    els.cfg_scale.placeholder = spec.cfg_scale ? "0.5" : "";
    setReason(form, "cfg_scale", spec.cfg_scale ? "" :
      spec.label + " does not take cfg_scale; only the Kling 1.x models do.");

    var note = form.querySelector("[data-model-note]");
    if (note) {
      note.textContent = spec.note || "";
      note.hidden = !spec.note;
    }
    if (image) {
      adaptTail(form, spec);
      return;
    }

    // Where the model makes sound the body always says off or on (capabilities.build_body).
    if (els.sound) {
      var makesSound = spec.sound_modes.indexOf(hasModes ? els.mode.value : "std") >= 0;
      els.sound.disabled = !makesSound;
      var silent = "";
      if (!spec.sound_modes.length) silent = spec.label + " makes no sound, so no sound is sent.";
      else if (!makesSound) silent = spec.label + " makes sound only in " + spec.sound_modes.join(" or ") + " mode.";
      setReason(form, "sound", silent);
    }

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

  // ------------------------------------------------------------------ the cost estimate

  function readJSON(id) {
    var blob = document.getElementById(id);
    return blob ? JSON.parse(blob.textContent) : null;
  }

  // Same rules as studio/review/pricing.py: a listed duration, else per_second; sound_factor.
  // `sound` true or false prices that choice; left out, the form's own.
  function estimate(prices, caps, form, sound) {
    var els = form.elements;
    if (!els.model_name) return null;
    var model = els.model_name.value;
    var image = currentKind(form) === "image2video";
    var spec = caps && (image ? caps.image_models : caps.models)[model];
    var mode = spec && spec.modes.length === 0 ? "" : (els.mode && els.mode.value) || "std";
    var duration = els.duration ? els.duration.value : "5";
    var table = (prices[model] || {})[mode];
    if (!table) return null;
    var units;
    if (table[duration] !== undefined) units = parseFloat(table[duration]);
    else if (table.per_second !== undefined) units = parseFloat(table.per_second) * parseInt(duration, 10);
    else return null;
    if (sound === undefined) sound = !!els.sound && !els.sound.disabled && els.sound.value === "on";
    if (sound && table.sound_factor !== undefined) units *= parseFloat(table.sound_factor);
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
    var soundPrice = panel.querySelector("[data-sound-price]");
    if (soundPrice) {
      var takes = form.elements.sound && !form.elements.sound.disabled;
      var off = takes ? estimate(prices, readJSON("capabilities"), form, false) : null;
      var on = takes ? estimate(prices, readJSON("capabilities"), form, true) : null;
      soundPrice.hidden = off === null || on === null;
      if (!soundPrice.hidden) {
        soundPrice.querySelector("[data-sound-off]").textContent = off;
        soundPrice.querySelector("[data-sound-on]").textContent = on;
      }
    }
    var left = panel.getAttribute("data-budget-left");
    var over = units !== null && left !== "" && left !== null && units > parseFloat(left);
    panel.classList.toggle("is-over", over);
    var warning = panel.querySelector("[data-budget-over]");
    if (warning) warning.hidden = !over;
    blockGenerate(form, over);
  }

  // What the panel says would be refused is not offered: Generate is disabled, with the
  // panel's sentence as its description (the server refuses it anyway, R22).
  function blockGenerate(form, over) {
    var button = form.querySelector(".generate-row button[type=submit]");
    var why = form.querySelector("[data-generate-blocked]");
    if (!button) return;
    button.disabled = over;
    if (over) button.setAttribute("aria-describedby", "budget-over-reason");
    else button.removeAttribute("aria-describedby");
    if (why) why.hidden = !over;
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest && target.closest("#generate-form");
    if (!form) return;
    adaptForm(form);
    updateEstimate();
    // Picking a preset applies it at once (the button stays for keyboards and for
    // browsers without JavaScript).
    if (target.id === "id_add_preset") {
      if (target.value) {
        var apply = target.parentNode.querySelector("button");
        if (apply) apply.click();
      }
      return;
    }
    // A value changed by hand is no longer the preset's: drop its "from preset" note.
    if (!target.name) return;
    var name = target.name.indexOf("camera_") === 0 ? "camera_type" : target.name;
    form.querySelectorAll('[data-set-by="' + name + '"]').forEach(function (item) {
      item.hidden = true;
    });
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
    // Generate itself: disabled when the budget would refuse the video (blockGenerate).
    var button = form.querySelector(".generate-row button[type=submit]") || form.querySelector("button[type=submit]");
    if (button && button.disabled) return;
    form.requestSubmit(button || undefined);
  });

  // One column (a phone, a narrow window): the queue lies under the long form, so the card
  // Generate has just made is scrolled to the middle of the window, clear of the fixed
  // Generate bar. Two columns show it beside the form, and the page stays where it is.
  var oneColumn = window.matchMedia && window.matchMedia("(max-width: 999.98px)");

  function inView(card) {
    var rect = card.getBoundingClientRect();
    var bar = document.querySelector(".composer > .budget");
    var bottom = bar ? Math.min(bar.getBoundingClientRect().top, window.innerHeight) : window.innerHeight;
    return rect.top >= 0 && rect.bottom <= bottom;
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!oneColumn || !oneColumn.matches || event.target.id !== "queue-list") return;
    var made = /id="(gen-[^"]+)"/.exec(event.detail.xhr ? event.detail.xhr.responseText : "");
    var card = made && document.getElementById(made[1]);
    if (!card || inView(card)) return;
    var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    card.scrollIntoView({ block: "center", behavior: still ? "auto" : "smooth" });
  });

  function init(root) {
    if (!root || !root.querySelectorAll) return;
    var form = root.id === "generate-form" ? root : root.querySelector("#generate-form");
    if (form) adaptForm(form);
    root.querySelectorAll("[data-count-for]").forEach(updateCount);
    if (root.matches && root.matches("[data-count-for]")) updateCount(root);
    if (root.id === "budget-panel" || root.id === "generate-form" || root.querySelector("#budget-panel")) {
      updateEstimate();
    }
  }

  if (window.htmx) {
    window.htmx.onLoad(init);  // the page, and every fragment htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
