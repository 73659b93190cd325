// The rating page: a client of gan-eval's JSON API (/api/..., documented in the README). No dependencies.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = {
    study: null,
    rater: params.get("rater") || "",
    token: params.get("token") || "",
    session: null,
    trial: null,
    phase: null,
    shownAt: 0,
    ready: false, // the image is shown and no answer is on its way: keys and buttons count
    screen: null,
  };

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers["X-Rater-Token"] = state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (!resp.ok) {
      const err = new Error(data.error || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function show(name) {
    for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== `screen-${name}`;
    state.screen = name;
    $("progress").hidden = !(name === "trial" || name === "between");
  }

  function fail(err) {
    state.ready = false;
    $("error-text").textContent = err.message || String(err);
    show("error");
  }

  function setProgress(answered, total, practice) {
    let text;
    if (answered < practice) text = `Practice ${answered + 1} of ${practice}`;
    else text = `Image ${Math.min(answered - practice + 1, total - practice)} of ${total - practice}`;
    $("progress-text").textContent = text;
    $("progress-fill").style.width = `${(100 * answered) / total}%`;
  }

  function ratioText() {
    const s = state.study;
    const half = s.scored / 2;
    let text = `${s.scored} of them count: ${half} are real and ${half} are fake.`;
    if (s.catch) text += ` ${s.catch} more are attention checks (clearly broken images: answer Fake).`;
    return text;
  }

  // Show the image at the largest whole multiple of its own pixels that fits, so every pixel stays square.
  function fit() {
    const img = $("image");
    const s = state.study;
    if (!s || !img.naturalWidth) return;
    const h = s.shape[1], w = s.shape[2];
    // below the image: the two buttons and the feedback line (about 130 pixels); nothing should scroll
    const room = Math.min(document.documentElement.clientWidth - 40, 560);
    const tall = window.innerHeight - $("frame").getBoundingClientRect().top - 12 - 135;
    const k = Math.max(1, Math.floor(Math.min(room / w, tall / h)));
    img.style.width = `${w * k}px`;
    img.style.height = `${h * k}px`;
  }

  async function start() {
    const input = $("rater");
    if (!state.rater) state.rater = input.value.trim();
    if (!state.rater) { input.focus(); return; }
    try { localStorage.setItem("gan-eval-rater", state.rater); } catch (e) { /* private mode */ }
    try {
      const s = await api("POST", "/api/session", { rater: state.rater, token: state.token || undefined });
      state.session = s.session;
      await next();
    } catch (err) {
      if (err.status === 409) {
        $("end-text").textContent = err.message;
        $("again-button").hidden = true;
        show("end");
      } else fail(err);
    }
  }

  async function next() {
    state.ready = false;
    const t = await api("GET", `/api/session/${state.session}/next`);
    if (t.done) return finish();
    const firstRated = t.phase === "rated" && state.phase === "practice";
    state.trial = t.trial;
    state.phase = t.phase;
    setProgress(t.answered, t.total, t.practice);
    if (firstRated) {
      $("between-rated").textContent = t.total - t.practice;
      $("between-ratio").textContent = ratioText();
      state.pending = t;
      show("between");
      $("between-button").focus();
      return;
    }
    present(t);
  }

  function present(t) {
    show("trial");
    $("phase").textContent = t.phase === "practice" ? "Practice: you will be told whether you were right" : "Real or fake?";
    $("feedback").textContent = "";
    $("feedback").className = "feedback";
    const img = $("image");
    img.classList.add("loading");
    for (const b of document.querySelectorAll(".answer")) b.disabled = true;
    img.onload = () => {
      fit();
      img.classList.remove("loading");
      for (const b of document.querySelectorAll(".answer")) b.disabled = false;
      state.shownAt = performance.now();
      state.ready = true;
    };
    img.onerror = () => fail(new Error("the image could not be loaded; is the server still running?"));
    img.src = t.image;
  }

  async function answer(value) {
    if (!state.ready || state.screen !== "trial") return;
    state.ready = false;
    for (const b of document.querySelectorAll(".answer")) b.disabled = true;
    const ms = Math.round(performance.now() - state.shownAt);
    try {
      const r = await api("POST", `/api/session/${state.session}/answer`,
        { trial: state.trial, answer: value, response_ms: ms });
      if (r.feedback) {
        const fb = $("feedback");
        const what = r.feedback.truth === "real" ? "real" : "fake (generated)";
        fb.textContent = r.feedback.correct ? `✓ Right: this one is ${what}.` : `✗ Wrong: this one is ${what}.`;
        fb.className = `feedback ${r.feedback.correct ? "ok" : "bad"}`;
        await new Promise((done) => setTimeout(done, 1100));
      }
      await next();
    } catch (err) {
      fail(err);
    }
  }

  async function finish() {
    $("progress").hidden = true;
    let left = 0;
    try {
      const p = await api("GET", `/api/session/${state.session}/progress`);
      left = p.arms_left || 0;
      $("end-text").textContent = `All ${p.answered} answers are saved.` +
        (left ? " There are more models to rate, if you have time." : " You have rated every model in this study.");
    } catch (err) { /* the answers are saved either way */ }
    $("again-button").hidden = left === 0;
    state.phase = null;
    show("end");
    if (left) $("again-button").focus();
  }

  document.addEventListener("keydown", (e) => {
    if (e.repeat || e.altKey || e.ctrlKey || e.metaKey) return;
    const key = e.key.toLowerCase();
    if (state.screen === "trial") {
      if (key === "r" || key === "arrowleft") { e.preventDefault(); answer("real"); }
      else if (key === "f" || key === "arrowright") { e.preventDefault(); answer("fake"); }
    } else if (key === "enter" && state.screen === "between") {
      e.preventDefault(); $("between-button").click();
    } else if (key === "enter" && state.screen === "end" && !$("again-button").hidden) {
      e.preventDefault(); $("again-button").click();
    }
  });

  $("answer-real").addEventListener("click", () => answer("real"));
  $("answer-fake").addEventListener("click", () => answer("fake"));
  $("start-form").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("between-button").addEventListener("click", () => { if (state.pending) present(state.pending); state.pending = null; });
  $("again-button").addEventListener("click", () => { state.session = null; start(); });
  $("retry-button").addEventListener("click", () => { if (state.session) next().catch(fail); else show("start"); });
  window.addEventListener("resize", fit);

  async function init() {
    try {
      state.study = await api("GET", "/api/study");
    } catch (err) { return fail(err); }
    const s = state.study;
    $("n-practice").textContent = s.practice;
    $("n-rated").textContent = s.scored + s.catch;
    $("ratio-text").textContent = ratioText();
    if (state.rater) {
      $("rater-label").hidden = true;
      $("rater").required = false;
    } else {
      try { $("rater").value = localStorage.getItem("gan-eval-rater") || ""; } catch (e) { /* private mode */ }
    }
    show("start");
    (state.rater ? $("start-button") : $("rater")).focus();
  }
  init();
})();
