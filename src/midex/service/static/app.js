// midex web page: plain JavaScript, no libraries, no build step. Data from /api (same origin).
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = ["accepted", "rejected", "failed"];
let token = sessionStorage.getItem("midex-token") || "";
let page = { offset: 0, limit: 50, total: 0 };
let tableMeta = {};

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function say(text) { $("message").textContent = text || ""; }

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = Object.assign({}, opts.headers || {});
  if (token) opts.headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, opts);
  if (!response.ok) {
    let detail = response.status + " " + response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new Error(detail);
  }
  return response;
}

async function apiJson(path, options) { return (await api(path, options)).json(); }

// ---- sign in ----------------------------------------------------------------------------
async function signIn() {
  say("");
  let me;
  try {
    me = await apiJson("/api/me");
  } catch (e) {
    $("who").textContent = "not signed in";
    $("provider").hidden = true;
    $("consumer").hidden = !token ? false : true;
    if (token) say(e.message);
    if (!token) tryAnonymous();
    return;
  }
  $("who").textContent = me.provider ? `${me.provider_name || me.provider} (${me.role})` : `${me.name} (${me.role})`;
  $("logout").hidden = false;
  $("provider").hidden = !(me.role === "provider");
  $("consumer").hidden = false;
  if (me.role === "provider") loadHistory();
  loadReleases();
}

async function tryAnonymous() {
  try { await loadReleases(); $("consumer").hidden = false; } catch (e) { $("consumer").hidden = true; }
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("midex-token", token);
  $("token").value = "";
  signIn();
});
$("logout").addEventListener("click", () => {
  token = "";
  sessionStorage.removeItem("midex-token");
  $("logout").hidden = true;
  signIn();
});

// ---- providers: upload, findings, history ---------------------------------------------------
async function upload(file) {
  say("");
  const form = new FormData();
  form.append("file", file, file.name);
  $("upload-status").textContent = `uploading ${file.name} …`;
  let sub;
  try {
    sub = await apiJson("/api/submissions", { method: "POST", body: form });
  } catch (e) {
    $("upload-status").textContent = "";
    say(`upload refused: ${e.message}`);
    return;
  }
  $("upload-status").textContent = `submission ${sub.id} received (${sub.status}); ${sub.processing || ""}`;
  loadHistory();
  await waitFor(sub.id);
}

async function waitFor(id) {
  for (;;) {
    const sub = await apiJson(`/api/submissions/${id}`);
    $("upload-status").textContent = `submission ${id}: ${sub.status}` +
      (sub.errors ? `, ${sub.errors} error(s)` : "") + (sub.warnings ? `, ${sub.warnings} warning(s)` : "");
    if (FINAL.includes(sub.status)) {
      loadHistory();
      showFindings(id);
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function showFindings(id) {
  const report = await apiJson(`/api/submissions/${id}/report?format=json`);
  $("findings-title").textContent = `Submission ${id}: ${report.status}, ${report.findings.length} finding(s)`;
  const body = $("findings").querySelector("tbody");
  body.replaceChildren();
  for (const f of report.findings) {
    const tr = el("tr", null, { class: f.severity });
    for (const v of [f.row, f.sheet, f.column, f.value, f.severity, f.rule, f.message]) tr.append(el("td", v));
    body.append(tr);
  }
  $("findings-box").hidden = false;
}

async function loadHistory() {
  const subs = await apiJson("/api/submissions");
  const body = $("history").querySelector("tbody");
  body.replaceChildren();
  for (const s of subs) {
    const tr = el("tr", null, { class: "pick", "data-id": s.id });
    for (const v of [s.id, s.file, s.received_at.slice(0, 19).replace("T", " "), s.status, s.errors, s.warnings, s.rows_harmonised]) tr.append(el("td", v));
    tr.addEventListener("click", () => showFindings(s.id));
    body.append(tr);
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  if (ev.dataTransfer.files.length) upload(ev.dataTransfer.files[0]);
});
$("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
$("template-link").addEventListener("click", async (ev) => {
  ev.preventDefault();
  saveBlob(await (await api("/api/template")).blob(), "midex_template.csv");
});

// ---- consumers: releases, tables, filters, chart, downloads -------------------------------
async function loadReleases() {
  const releases = await apiJson("/api/releases");
  const select = $("release");
  select.replaceChildren();
  for (const r of releases) select.append(el("option", `release ${r.release} (${String(r.created_at).slice(0, 10)})`, { value: r.release }));
  if (!releases.length) { $("table-desc").textContent = "nothing published yet"; return; }
  await loadTables();
  await loadGroups();
}

async function loadGroups() {
  const select = $("f-group");
  if (select.options.length > 1) return;
  for (const g of await apiJson("/api/groups")) select.append(el("option", `${g.name} (${g.code})`, { value: g.code }));
}

async function loadTables() {
  const info = await apiJson(`/api/tables?release=${encodeURIComponent($("release").value)}`);
  const select = $("table");
  const keep = select.value;
  select.replaceChildren();
  tableMeta = {};
  for (const t of info.tables) {
    tableMeta[t.name] = t;
    select.append(el("option", `${t.name} (${t.rows} rows)`, { value: t.name }));
  }
  if (keep && tableMeta[keep]) select.value = keep;
  page.offset = 0;
  await showTable();
}

function filterParams() {
  const params = new URLSearchParams({ release: $("release").value });
  const add = (name, id) => { const v = $(id).value.trim(); if (v) params.set(name, v); };
  add("area", "f-area"); add("indicator", "f-indicator"); add("period_from", "f-from");
  add("period_to", "f-to"); add("group", "f-group");
  return params;
}

async function showTable() {
  say("");
  const name = $("table").value;
  if (!name) return;
  const meta = tableMeta[name] || {};
  $("table-desc").textContent = meta.description || "";
  const params = filterParams();
  params.set("limit", page.limit); params.set("offset", page.offset);
  let data;
  try {
    data = await apiJson(`/api/tables/${encodeURIComponent(name)}?${params}`);
  } catch (e) { say(e.message); return; }
  page.total = data.total;
  $("count").textContent = `rows ${data.total ? data.offset + 1 : 0}–${data.offset + data.rows.length} of ${data.total}`;
  const head = $("rows").querySelector("thead");
  const body = $("rows").querySelector("tbody");
  head.replaceChildren(); body.replaceChildren();
  const tr = el("tr");
  for (const c of data.columns) tr.append(el("th", c.name, { title: (meta.column_docs || {})[c.name] || c.type }));
  head.append(tr);
  for (const row of data.rows) {
    const r = el("tr");
    for (const c of data.columns) {
      const v = row[c.name];
      r.append(el("td", typeof v === "number" ? formatNumber(v) : v, typeof v === "number" ? { class: "num" } : {}));
    }
    body.append(r);
  }
  await prepareChart(name, data.columns);
}

function formatNumber(v) {
  if (Math.abs(v) >= 1000) return v.toLocaleString("en", { maximumFractionDigits: 0 });
  return v.toLocaleString("en", { maximumFractionDigits: 3 });
}

// The chart reads every filtered row (up to 10,000) and draws one measure: an indicator of a
// long table (INDICATOR + OBS_VALUE), or a numeric column of a wide table.
let chartRows = [];
let chartLong = false;

async function prepareChart(name, columns) {
  const params = filterParams();
  params.set("limit", 10000);
  const data = await apiJson(`/api/tables/${encodeURIComponent(name)}?${params}`);
  chartRows = data.rows;
  const names = columns.map((c) => c.name);
  chartLong = names.includes("INDICATOR") && names.includes("OBS_VALUE");
  const measure = $("measure");
  const keep = measure.value;
  measure.replaceChildren();
  let options;
  if (chartLong) options = [...new Set(chartRows.map((r) => r.INDICATOR))].sort();
  else options = columns.filter((c) => c.type === "double" || c.type.startsWith("int")).map((c) => c.name)
    .filter((n) => !["SUBMISSION_ID", "SOURCE_ROW"].includes(n));
  for (const o of options) measure.append(el("option", o, { value: o }));
  if (keep && options.includes(keep)) measure.value = keep;
  const years = [...new Set(chartRows.map((r) => r.TIME_PERIOD).filter(Boolean))].sort();
  const year = $("year");
  const keepYear = year.value;
  year.replaceChildren();
  for (const y of years) year.append(el("option", y, { value: y }));
  if (keepYear && years.includes(keepYear)) year.value = keepYear; else if (years.length) year.value = years[years.length - 1];
  drawChart();
}

function chartPoints() {
  const m = $("measure").value;
  const out = [];
  for (const r of chartRows) {
    let v;
    if (chartLong) {
      if (r.INDICATOR !== m) continue;
      if ((r.COUNTERPART_AREA && r.COUNTERPART_AREA !== "_Z") || (r.SEX && r.SEX !== "_T") || (r.AGE && r.AGE !== "_T")) continue;
      v = r.OBS_VALUE;
    } else v = r[m];
    if (typeof v !== "number" || !isFinite(v) || !r.TIME_PERIOD) continue;
    out.push({ area: r.REF_AREA || r.GROUP_CODE || "?", period: r.TIME_PERIOD, value: v });
  }
  return out;
}

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function drawChart() {
  const box = $("chart");
  box.replaceChildren();
  const points = chartPoints();
  if (!points.length) { box.append(el("p", "nothing to chart for these filters", { class: "muted" })); return; }
  const kind = document.querySelector("input[name=kind]:checked").value;
  const W = 720, H = 300, L = 80, R = 110, T = 20, B = 40;
  const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, "data-kind": kind, role: "img" });
  root.append(svg("text", { x: L, y: 14 }, $("measure").value));
  let maxV = 0, minV = 0;
  if (kind === "line") {
    const periods = [...new Set(points.map((p) => p.period))].sort();
    const areas = [...new Set(points.map((p) => p.area))].sort().slice(0, COLORS.length);
    for (const p of points) { maxV = Math.max(maxV, p.value); minV = Math.min(minV, p.value); }
    const x = (per) => L + (periods.length === 1 ? (W - L - R) / 2 : periods.indexOf(per) * (W - L - R) / (periods.length - 1));
    const y = (v) => T + (H - T - B) * (1 - (v - minV) / ((maxV - minV) || 1));
    axes(root, W, H, L, R, T, B, minV, maxV, y);
    periods.forEach((per) => root.append(svg("text", { x: x(per) - 12, y: H - B + 16 }, per)));
    areas.forEach((area, i) => {
      const mine = points.filter((p) => p.area === area).sort((a, b) => a.period.localeCompare(b.period));
      const d = mine.map((p, j) => `${j ? "L" : "M"}${x(p.period).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
      root.append(svg("path", { d, fill: "none", stroke: COLORS[i], "stroke-width": 2, class: "series", "data-area": area }));
      mine.forEach((p) => root.append(svg("circle", { cx: x(p.period), cy: y(p.value), r: 3, fill: COLORS[i] })));
      root.append(svg("text", { x: W - R + 8, y: T + 14 * (i + 1), style: `fill:${COLORS[i]}`, class: "legend" }, area));
    });
  } else {
    const year = $("year").value;
    const mine = points.filter((p) => p.period === year).sort((a, b) => b.value - a.value).slice(0, 40);
    for (const p of mine) { maxV = Math.max(maxV, p.value); minV = Math.min(minV, p.value); }
    const y = (v) => T + (H - T - B) * (1 - (v - minV) / ((maxV - minV) || 1));
    axes(root, W, H, L, R, T, B, minV, maxV, y);
    const bw = Math.min((W - L - R) / Math.max(mine.length, 1), 60);
    mine.forEach((p, i) => {
      const top = Math.min(y(p.value), y(0)), h = Math.abs(y(p.value) - y(0));
      root.append(svg("rect", { x: L + i * bw + 2, y: top, width: Math.max(bw - 4, 1), height: Math.max(h, 1), fill: COLORS[0], class: "bar", "data-area": p.area }));
      root.append(svg("text", { x: L + i * bw + 2, y: H - B + 16 }, p.area));
    });
  }
  box.append(root);
}

function axes(root, W, H, L, R, T, B, minV, maxV, y) {
  root.append(svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  root.append(svg("line", { x1: L, y1: y(Math.max(minV, 0)), x2: W - R, y2: y(Math.max(minV, 0)), class: "axis" }));
  const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
  for (const v of [minV, (minV + maxV) / 2, maxV]) root.append(svg("text", { x: 4, y: y(v) + 4 }, compact.format(v)));
}

async function download(fmt) {
  const name = $("table").value;
  const params = filterParams();
  params.set("format", fmt);
  try {
    const blob = await (await api(`/api/tables/${encodeURIComponent(name)}/download?${params}`)).blob();
    saveBlob(blob, `${name}-release${$("release").value}.${fmt}`);
  } catch (e) { say(e.message); }
}

function saveBlob(blob, name) {
  const a = el("a", null, { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); page.offset = 0; showTable(); });
$("release").addEventListener("change", loadTables);
$("table").addEventListener("change", () => { page.offset = 0; showTable(); });
$("measure").addEventListener("change", drawChart);
$("year").addEventListener("change", drawChart);
document.querySelectorAll("input[name=kind]").forEach((r) => r.addEventListener("change", drawChart));
$("dl-csv").addEventListener("click", () => download("csv"));
$("dl-parquet").addEventListener("click", () => download("parquet"));
$("prev").addEventListener("click", () => { if (page.offset > 0) { page.offset = Math.max(0, page.offset - page.limit); showTable(); } });
$("next").addEventListener("click", () => { if (page.offset + page.limit < page.total) { page.offset += page.limit; showTable(); } });

signIn();
