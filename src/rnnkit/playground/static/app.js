// rnnkit playground front end: plain JavaScript, charts drawn on canvas and SVG, no libraries.
// Every number shown comes from the server's JSON API; nothing is computed here but pixels.
// One file past 400 lines on purpose: the page loads a single script, with no bundler.
"use strict";

const $ = (id) => document.getElementById(id);
const finite = (v) => typeof v === "number" && isFinite(v);  // the server sends NaN as null
let config = null;
let model = null;      // summary of the current model
let trace = null;      // last /api/trace answer
let losses = [];       // [[step, loss], ...]
let polling = null;
let hopfield = { stored: [], state: [], timer: null };

async function api(path, body) {
  const opts = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, opts);
  const data = await response.json();
  if (!response.ok) { showError(data.error || response.statusText); throw new Error(data.error); }
  showError("");
  return data;
}

function showError(message) { $("error").textContent = message; }

// ---------------------------------------------------------------- charts

function scale(lo, hi, a, b) { const d = hi - lo || 1; return (v) => a + (v - lo) / d * (b - a); }

function fmt(v) {
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toPrecision(3);
}

// series: [{xs, ys, color, label}]; opts: {logy, vline, xlabel}
function lineChart(canvas, series, opts = {}) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const m = { l: 58, r: 10, t: 10, b: 26 };
  ctx.clearRect(0, 0, W, H);
  const tr = (v) => (opts.logy ? Math.log10(Math.max(v, 1e-12)) : v);
  let xs = [], ys = [];
  for (const s of series) { xs = xs.concat(s.xs); ys = ys.concat(s.ys.filter(finite).map(tr)); }
  if (!xs.length || !ys.length) return;
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const X = scale(x0, x1, m.l, W - m.r), Y = scale(y0, y1, H - m.b, m.t);
  ctx.strokeStyle = "#90a4ae"; ctx.fillStyle = "#546e7a"; ctx.font = "11px sans-serif";
  ctx.beginPath(); ctx.moveTo(m.l, m.t); ctx.lineTo(m.l, H - m.b); ctx.lineTo(W - m.r, H - m.b); ctx.stroke();
  for (let k = 0; k <= 4; k++) {
    const v = y0 + (y1 - y0) * k / 4, y = Y(v);
    ctx.fillText(opts.logy ? fmt(10 ** v) : fmt(v), 2, y + 4);
    ctx.strokeStyle = "#eceff1"; ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(W - m.r, y); ctx.stroke();
  }
  const fx = (v) => (Number.isInteger(v) ? String(v) : fmt(v));
  ctx.fillText(fx(x0), m.l, H - 8); ctx.fillText(fx(x1), W - m.r - 30, H - 8);
  if (opts.xlabel) ctx.fillText(opts.xlabel, W / 2 - 20, H - 8);
  if (opts.vline !== undefined) {
    ctx.strokeStyle = "#ffb300"; ctx.beginPath();
    ctx.moveTo(X(opts.vline), m.t); ctx.lineTo(X(opts.vline), H - m.b); ctx.stroke();
  }
  let ly = m.t + 12;
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    s.xs.forEach((x, k) => {
      const v = s.ys[k];
      if (!finite(v)) { pen = false; return; }
      if (pen) ctx.lineTo(X(x), Y(tr(v))); else ctx.moveTo(X(x), Y(tr(v)));
      pen = true;
    });
    ctx.stroke(); ctx.lineWidth = 1;
    if (s.label) {
      ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(W - m.r - 154, ly - 11, 150, 14);
      ctx.fillStyle = s.color; ctx.fillText(s.label, W - m.r - 150, ly); ly += 14;
    }
  }
}

// A diverging colour: blue for negative, white at 0, red for positive (|v| / vmax).
function colour(v, vmax) {
  const a = Math.max(-1, Math.min(1, v / (vmax || 1)));
  const w = Math.round(255 * (1 - Math.abs(a)));
  return a >= 0 ? `rgb(255,${w},${w})` : `rgb(${w},${w},255)`;
}

// rows: (units, T); cursor: the highlighted step.
function heatmap(canvas, rows, cursor, vmax) {
  const ctx = canvas.getContext("2d"), T = rows[0].length, U = rows.length;
  const cw = canvas.width / T, ch = canvas.height / U;
  for (let u = 0; u < U; u++) for (let t = 0; t < T; t++) {
    ctx.fillStyle = colour(rows[u][t], vmax);
    ctx.fillRect(t * cw, u * ch, Math.ceil(cw), Math.ceil(ch));
  }
  ctx.strokeStyle = "#263238"; ctx.lineWidth = 2;
  ctx.strokeRect(cursor * cw + 1, 1, cw - 2, canvas.height - 2); ctx.lineWidth = 1;
}

// ---------------------------------------------------------------- the unrolled diagram

function diagram(svg, steps, current) {
  const W = +svg.getAttribute("width"), n = steps.length, gap = W / (n + 1);
  const stateName = model ? model.state_names.join(", ") : "s";
  let s = `<defs><marker id="arr-${svg.id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#455a64"/></marker></defs>`;
  const arrow = (x1, y1, x2, y2) => `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#455a64" marker-end="url(#arr-${svg.id})"/>`;
  const text = (x, y, t, cls = "") => `<text x="${x}" y="${y}" text-anchor="middle" font-size="12" ${cls}>${t}</text>`;
  s += text(gap * 0.45, 92, `s<tspan font-size='9' dy='3'>${steps[0]}</tspan>`);
  steps.forEach((t, k) => {
    const x = gap * (k + 1), on = t === current;
    s += `<rect x="${x - 26}" y="70" width="52" height="36" rx="6" fill="${on ? "#ffe082" : "#eceff1"}" stroke="#455a64"/>`;
    s += text(x, 93, "R", 'font-weight="bold"');
    s += arrow(x, 150, x, 108) + text(x, 165, `x<tspan font-size='9' dy='3'>${t + 1}</tspan>`);
    s += arrow(x, 70, x, 28) + text(x, 20, `y<tspan font-size='9' dy='3'>${t + 1}</tspan>`);
    s += arrow(x - gap + 26, 88, x - 28, 88);
    if (k === n - 1) s += arrow(x + 26, 88, x + gap - 20, 88) + text(x + gap - 6, 92, "…");
    s += text(x + gap / 2, 82, `<tspan font-size='10' fill='#78909c'>${stateName}</tspan>`);
  });
  svg.innerHTML = s;
}

function drawTrainDiagram() {
  const T = model ? Math.min(6, model.length || 6) : 6;
  diagram($("diagram"), [...Array(T).keys()], -1);
}

// ---------------------------------------------------------------- Train tab

function cellSpec() { return config.cells.find((c) => c.name === $("cell").value); }

function renderOptions() {
  const spec = cellSpec();
  $("cell-doc").textContent = spec.doc;
  const box = $("options");
  box.innerHTML = "";
  for (const o of spec.options) {
    const label = document.createElement("label");
    label.title = o.doc;
    let input;
    if (o.type === "bool") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = o.default;
    } else if (o.choices) {
      input = document.createElement("select");
      for (const c of o.choices) input.add(new Option(String(c), String(c), false, c === o.default));
    } else {
      input = document.createElement("input"); input.type = "number";
      input.value = o.default === null ? "" : o.default;
      input.placeholder = o.default === null ? "= hidden units" : "";
      if (o.type === "float") input.step = "0.1";
    }
    input.id = "opt-" + o.name;
    input.dataset.type = o.type;
    label.append(o.name + " ", input);
    box.append(label);
  }
}

function readOptions() {
  const options = {};
  for (const o of cellSpec().options) {
    const el = $("opt-" + o.name);
    if (o.type === "bool") options[o.name] = el.checked;
    else if (o.type === "int" || o.type === "float") {
      if (el.value !== "") options[o.name] = Number(el.value);
    } else options[o.name] = el.value;
  }
  return options;
}

function taskChanged() {
  const task = config.tasks.find((t) => t.name === $("task").value);
  $("task-doc").textContent = task.doc;
  $("text-wrap").style.display = task.name === "text" ? "" : "none";
  if (task.name === "text" && !$("text").value) $("text").value = task.default_text;
}

async function buildModel() {
  const body = {
    cell: $("cell").value, options: readOptions(), hidden_size: Number($("hidden").value),
    task: $("task").value, lr: Number($("lr").value), seed: Number($("seed").value),
    task_params: { length: Number($("length").value), batch_size: Number($("batch").value) },
  };
  if (body.task === "text") body.task_params.text = $("text").value;
  model = await api("/api/model", body);
  model.length = body.task_params.length;
  losses = [];
  trace = null;
  showModel();
  await poll();
}

function showModel() {
  $("equations").textContent = $("equations-inside").textContent = model.equations.join("\n");
  $("model-summary").textContent =
    `${model.cell} ${JSON.stringify(model.options)}, ${model.hidden_size} units, ` +
    `input ${model.input_size}, readout ${model.output_size}, ${model.parameters} parameters; task ${model.task}`;
  drawTrainDiagram();
}

function drawLoss() {
  const c = $("loss-chart");
  lineChart(c, [{ xs: losses.map((p) => p[0]), ys: losses.map((p) => p[1]), color: "#d84315", label: "training loss" }],
    { logy: true, xlabel: "step" });
  c.dataset.points = losses.length;
  if (losses.length) {
    const [step, loss] = losses[losses.length - 1];
    c.dataset.lastStep = step; c.dataset.lastLoss = loss;
    $("last-loss").textContent = fmt(loss);
  }
}

async function poll() {
  const since = losses.length ? losses[losses.length - 1][0] : 0;
  const st = await api("/api/status?since=" + since);
  // polls may overlap (the timer and a button): keep only points after the last one we have
  const last = losses.length ? losses[losses.length - 1][0] : 0;
  losses = losses.concat(st.losses.filter((p) => p[0] > last));
  if (losses.length > 5000) losses = losses.filter((_, k) => k % 2 === 0);  // as the server does
  $("step-count").textContent = st.step;
  if (st.error) showError(st.error);
  drawLoss();
  if (!st.running && polling) { clearInterval(polling); polling = null; }
  return st;
}

async function train(action) {
  const body = { action, lr: Number($("lr").value) };
  if (action === "step") body.steps = Number($("steps-n").value);
  await api("/api/train", body);
  await poll();
  // a failed poll has already shown its error; the next one retries
  if (action === "start" && !polling) polling = setInterval(() => poll().catch(() => {}), 300);
}

// ---------------------------------------------------------------- Inside tab

function currentT() { return Number($("t-slider").value); }

async function loadTrace() {
  const [tr, gf] = await Promise.all([api("/api/trace"), api("/api/gradflow")]);
  trace = tr; trace.grad = gf.norms;
  $("t-slider").max = trace.T - 1;
  $("t-max").textContent = trace.T;
  if (currentT() > trace.T - 1) $("t-slider").value = 0;
  $("trace-info").textContent = `model at step ${trace.step}, loss on this sample ${fmt(trace.loss)}`;
  buildHeatmaps();
  const g = $("gradflow");
  g.dataset.norms = JSON.stringify(gf.norms);
  showStep();
}

function buildHeatmaps() {
  const box = $("heatmaps");
  box.innerHTML = "";
  const groups = [["input", { x: trace.input }]].concat(
    [["gate", trace.gates], ["state", trace.states]]);
  const width = Math.min(880, Math.max(200, trace.T * 18));
  for (const [kind, dict] of groups) for (const [name, rows] of Object.entries(dict)) {
    const row = document.createElement("div"); row.className = "heat";
    const label = document.createElement("span"); label.className = "name"; label.textContent = name;
    const c = document.createElement("canvas");
    c.width = width; c.height = Math.min(240, Math.max(12, rows.length * 10));  // a big vocabulary stays on screen
    c.className = "heatmap"; c.dataset.name = name; c.dataset.kind = kind;
    row.append(label, c); box.append(row);
    if (kind === "input") {
      const lab = document.createElement("canvas"); lab.width = width; lab.height = 14; lab.id = "labels";
      const r2 = document.createElement("div"); r2.className = "heat";
      const s2 = document.createElement("span"); s2.className = "name"; s2.textContent = "";
      r2.append(s2, lab); box.append(r2);
    }
  }
}

function showStep() {
  if (!trace) return;
  const t = currentT();
  $("t-label").textContent = t + 1;  // time steps are numbered 1..T, as in the diagram
  for (const c of document.querySelectorAll("canvas.heatmap")) {
    const rows = c.dataset.kind === "input" ? trace.input :
      (c.dataset.kind === "gate" ? trace.gates : trace.states)[c.dataset.name];
    const vmax = Math.max(...rows.flat().map(Math.abs)) || 1;
    heatmap(c, rows, t, vmax);
  }
  const lab = $("labels"), ctx = lab.getContext("2d"), cw = lab.width / trace.T;
  ctx.clearRect(0, 0, lab.width, lab.height); ctx.font = "10px monospace"; ctx.fillStyle = "#37474f";
  // a label every `every` steps, so that labels never overlap; the current step's always
  const wide = Math.max(...trace.labels.map((s) => s.length)) * 6 + 4, every = Math.ceil(wide / cw);
  trace.labels.forEach((s, k) => {
    if (k === t) { ctx.fillStyle = "#bf360c"; ctx.fillText(s, k * cw + 1, 11); ctx.fillStyle = "#37474f"; }
    else if (k % every === 0 && Math.abs(k - t) * cw >= wide) ctx.fillText(s, k * cw + 1, 11);
  });
  const lo = Math.max(0, Math.min(t - 3, trace.T - 7));
  diagram($("diagram-inside"), [...Array(Math.min(7, trace.T)).keys()].map((k) => k + lo), t);
  // the table of values at t: one row per gate or state, one column per unit
  const table = $("values"); table.innerHTML = "";
  const dicts = { gate: trace.gates, state: trace.states };
  const H = Math.max(...Object.values(trace.states).map((r) => r.length));
  let head = "<tr><th></th>" + [...Array(Math.min(H, 16)).keys()].map((u) => `<th>${u}</th>`).join("") + "</tr>";
  table.insertAdjacentHTML("beforeend", head);
  table.insertAdjacentHTML("beforeend", `<tr><th>x<sub>t</sub></th><td colspan="16" style="text-align:left">${trace.labels[t]}</td></tr>`);
  for (const [kind, dict] of Object.entries(dicts)) for (const [name, rows] of Object.entries(dict)) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th>${name}</th>`;
    rows.slice(0, 16).forEach((r, u) => {
      const td = document.createElement("td");
      td.id = `v-${kind}-${name}-${u}`; td.dataset.value = r[t]; td.textContent = r[t].toFixed(3);
      td.style.background = colour(r[t], 1);
      tr.append(td);
    });
    table.append(tr);
  }
  const norms = trace.grad;
  lineChart($("gradflow"), [{ xs: norms.map((_, k) => k + 1), ys: norms, color: "#6a1b9a", label: "‖∂L/∂h_t‖" }],
    { logy: true, vline: t + 1, xlabel: "t" });
}

function moveT(d) {
  const s = $("t-slider");
  s.value = Math.max(0, Math.min(Number(s.max), currentT() + d));
  showStep();
}

// ---------------------------------------------------------------- Hopfield tab

function hfDraw(flipped = -1) {
  const cells = $("hf-grid").children;
  hopfield.state.forEach((v, k) => {
    cells[k].className = (v > 0 ? "on" : "") + (k === flipped ? " flipped" : "");
  });
  $("hf-grid").dataset.state = hopfield.state.join(",");
}

function hfSetup() {
  const grid = $("hf-grid"), n = config.hopfield.grid ** 2;
  hopfield.state = Array(n).fill(-1);
  for (let k = 0; k < n; k++) {
    const d = document.createElement("div");
    d.addEventListener("click", () => { hopfield.state[k] *= -1; hfDraw(); });
    grid.append(d);
  }
  for (const r of config.hopfield.rules) $("hf-rule").add(new Option(r, r));
  api("/api/hopfield/presets").then((presets) => {
    hopfield.presets = presets;
    for (const [name, p] of Object.entries(presets)) {
      const b = document.createElement("button"); b.textContent = name; b.id = "hf-preset-" + name;
      b.addEventListener("click", () => { hopfield.state = p.slice(); hfDraw(); });
      $("hf-presets").append(b);
    }
  });
  hfDraw();
}

function hfStore() {
  hopfield.stored.push(hopfield.state.slice());
  $("hf-stored").textContent = `${hopfield.stored.length} pattern(s)`;
}

function hfCorrupt() {
  const frac = Number($("hf-noise").value) / 100, n = hopfield.state.length;
  const idx = [...Array(n).keys()];
  for (let k = n - 1; k > 0; k--) { const j = Math.floor(Math.random() * (k + 1)); [idx[k], idx[j]] = [idx[j], idx[k]]; }
  for (const k of idx.slice(0, Math.round(frac * n))) hopfield.state[k] *= -1;
  hfDraw();
}

async function hfRecall() {
  if (!hopfield.stored.length) { showError("store at least one pattern first"); return; }
  if (hopfield.timer) clearInterval(hopfield.timer);
  const res = await api("/api/hopfield/recall",
    { patterns: hopfield.stored, probe: hopfield.state, rule: $("hf-rule").value });
  const canvas = $("hf-energy");
  canvas.dataset.energies = JSON.stringify(res.energies);
  canvas.dataset.done = "false";
  $("hf-status").textContent = "recalling…";
  let k = 0;
  const perTick = Math.max(1, Math.ceil(res.flips.length / 120));
  const tick = () => {
    let last = -1;
    for (let j = 0; j < perTick && k < res.flips.length; j++, k++) {
      const u = res.flips[k];
      if (u >= 0) { hopfield.state[u] *= -1; last = u; }
    }
    hfDraw(last);
    const e = res.energies.slice(0, k + 1);
    lineChart(canvas, [{ xs: e.map((_, i) => i), ys: e, color: "#00695c", label: "energy" }], { xlabel: "unit updates" });
    if (k >= res.flips.length) {
      clearInterval(hopfield.timer); hopfield.timer = null;
      canvas.dataset.done = "true";
      const best = Math.max(...res.overlaps);
      $("hf-status").textContent = `${res.flips.filter((u) => u >= 0).length} flips in ${res.flips.length} updates; ` +
        `${res.fixed_point ? "a fixed point" : "not yet a fixed point"}; best overlap with a stored pattern ${best.toFixed(2)}; ` +
        `E: ${fmt(res.energies[0])} → ${fmt(res.energies[res.energies.length - 1])}`;
    }
  };
  hopfield.timer = setInterval(tick, 25);
}

// ---------------------------------------------------------------- Echo state tab

function esnSetup() {
  for (const s of config.esn.series) $("esn-series").add(new Option(s, s));
  for (const [name, [type, lo, hi, def]] of Object.entries(config.esn.bounds)) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "number"; input.id = "esn-" + name; input.min = lo; input.max = hi; input.value = def;
    input.step = type === "float" ? "any" : "1"; input.dataset.type = type;
    label.append(name.replace(/_/g, " ") + " ", input);
    $("esn-form").append(label);
  }
}

async function esnRun() {
  const body = { series: $("esn-series").value };
  for (const name of Object.keys(config.esn.bounds)) body[name] = Number($("esn-" + name).value);
  const res = await api("/api/esn", body);
  const n = res.train_length, N = res.series.length;
  const chart = $("esn-chart");
  const first = Math.max(0, n - 300);
  const xs = (from, len) => [...Array(len).keys()].map((k) => k + from);
  lineChart(chart, [
    { xs: xs(first, N - first), ys: res.series.slice(first), color: "#90a4ae", label: "series" },
    { xs: xs(first + 1, n - 1 - first), ys: res.fitted.slice(first), color: "#1565c0", label: "fit (teacher forced)" },
    { xs: xs(n, res.generated.length), ys: res.generated, color: "#d84315", label: "free run" },
  ], { vline: n, xlabel: "n" });
  chart.dataset.nrmse = res.nrmse_free;
  $("esn-nrmse").textContent = fmt(res.nrmse_free);
  $("esn-fit").textContent = fmt(res.nrmse_fit);
  const colours = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#c62828"];
  lineChart($("esn-states"), res.unit_states.map((ys, k) => ({ xs: ys.map((_, i) => i), ys, color: colours[k] })), { xlabel: "n" });
}

// ---------------------------------------------------------------- start

function showTab(name) {
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === "tab-" + name);
  if (name === "inside") loadTrace();
}

async function init() {
  config = await api("/api/config");
  for (const c of config.cells) $("cell").add(new Option(c.name, c.name));
  for (const t of config.tasks) $("task").add(new Option(t.name, t.name));
  $("hidden").max = config.max_hidden;
  const d = config.default_model;
  $("cell").value = d.cell; $("task").value = d.task; $("lr").value = d.lr;
  renderOptions(); taskChanged();
  $("cell").addEventListener("change", renderOptions);
  $("task").addEventListener("change", taskChanged);
  $("build").addEventListener("click", buildModel);
  $("start").addEventListener("click", () => train("start"));
  $("pause").addEventListener("click", () => train("pause"));
  $("step").addEventListener("click", () => train("step"));
  $("refresh-trace").addEventListener("click", loadTrace);
  $("t-prev").addEventListener("click", () => moveT(-1));
  $("t-next").addEventListener("click", () => moveT(1));
  $("t-slider").addEventListener("input", showStep);
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("hf-store").addEventListener("click", hfStore);
  $("hf-clear").addEventListener("click", () => { hopfield.stored = []; $("hf-stored").textContent = "none"; });
  $("hf-corrupt").addEventListener("click", hfCorrupt);
  $("hf-recall").addEventListener("click", hfRecall);
  $("esn-run").addEventListener("click", esnRun);
  hfSetup(); esnSetup();
  model = await api("/api/model");
  model.length = d.task_params.length;
  showModel();
  await poll();
  document.body.dataset.ready = "true";
}

init();
