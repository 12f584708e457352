// Camera capture for the nurse's assessment form: up to 3 photos or one 10 s clip,
// put into the form's file input so that the same upload path handles them.
// Without a camera (or without permission) the file input alone remains.
(function () {
  "use strict";
  var form = document.getElementById("assess-form");
  if (!form) { return; }
  var input = document.getElementById("media");
  var box = document.getElementById("camera");
  var video = document.getElementById("preview");
  var startBtn = document.getElementById("start-camera");
  var photoBtn = document.getElementById("take-photo");
  var clipBtn = document.getElementById("record-clip");
  var status = document.getElementById("capture-status");
  var shots = document.getElementById("shots");
  var submit = document.getElementById("submit-assessment");
  var captured = [];
  var stream = null;
  var CLIP_MS = 10000;

  function say(text) { status.textContent = text; }

  function syncInput() {
    if (typeof DataTransfer === "undefined") { return; }
    var dt = new DataTransfer();
    captured.forEach(function (f) { dt.items.add(f); });
    input.files = dt.files;
  }

  function show(file) {
    var url = URL.createObjectURL(file);
    var el;
    if (file.type.indexOf("video") === 0) {
      el = document.createElement("video");
      el.controls = true;
      el.setAttribute("aria-label", "Recorded clip");
    } else {
      el = document.createElement("img");
      el.alt = "Captured photo " + captured.length;
    }
    el.src = url;
    el.width = 160;
    shots.appendChild(el);
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    box.hidden = false;
  }

  startBtn.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        photoBtn.disabled = false;
        clipBtn.disabled = typeof MediaRecorder === "undefined";
        say("Camera on. Frame the child's face, then take photos or record a clip.");
      })
      .catch(function (err) { say("No camera available (" + err.name + "): upload files instead."); });
  });

  photoBtn.addEventListener("click", function () {
    if (!stream) { return; }
    if (captured.some(function (f) { return f.type.indexOf("video") === 0; })) {
      captured = []; shots.textContent = "";
    }
    if (captured.length >= 3) { say("Three photos taken: that is the most per assessment."); return; }
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      var file = new File([blob], "photo_" + (captured.length + 1) + ".jpg", { type: "image/jpeg" });
      captured.push(file);
      syncInput();
      show(file);
      say(captured.length + " photo(s) ready.");
    }, "image/jpeg", 0.92);
  });

  clipBtn.addEventListener("click", function () {
    if (!stream) { return; }
    var chunks = [];
    var recorder = new MediaRecorder(stream);
    recorder.ondataavailable = function (e) { if (e.data.size) { chunks.push(e.data); } };
    recorder.onstop = function () {
      var file = new File(chunks, "clip.webm", { type: recorder.mimeType || "video/webm" });
      captured = [file];
      shots.textContent = "";
      syncInput();
      show(file);
      photoBtn.disabled = false; clipBtn.disabled = false;
      say("Clip ready (10 s).");
    };
    photoBtn.disabled = true; clipBtn.disabled = true;
    say("Recording 10 s...");
    recorder.start();
    setTimeout(function () { recorder.stop(); }, CLIP_MS);
  });

  form.addEventListener("submit", function () {
    submit.disabled = true;
    submit.textContent = "Storing and assessing...";
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  });
})();
