// obs preview: draws the dashboards served as JSON by `obs preview`, refreshing on its own.
// Plain DOM and inline SVG, no dependency: the page must work offline. Values and their
// formatting come from the server (obs.preview.model); this script only lays them out.
"use strict";

const COLORS = ["#4182c0", "#e0762d", "#4ba35a", "#c6242d", "#8e5fc4", "#b88a00", "#21a1a8", "#d95fa5"];
const SVG = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const snapshot = params.has("snapshot");
let refreshMs = 5000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function showStatus(status) {
  const node = document.getElementById("status");
  refreshMs = Math.max(1000, status.interval * 1000);
  const bad = status.sources.filter((s) => !s.ok);
  node.className = bad.length ? "status bad" : "status";
  const refused = status.sources.reduce((sum, s) => sum + s.refused, 0);
  node.textContent = bad.length
    ? `${bad.length} of ${status.sources.length} source(s) not answering: ${bad[0].error || "not read yet"}`
    : `${status.sources.length} source(s), ${status.series} series, ${status.rounds} scrapes` +
      (refused ? `; ${refused} series over --max-series not kept` : "");
}

// --- the dashboard list ------------------------------------------------------------------

// --- SLOs: status, budget left and burn rates over the data held --------------------------

const STATE_TEXT = { ok: "met", missed: "missed", "no data": "no data", error: "not evaluated" };

function rateText(value) {
  return value === null ? "–" : `${value < 10 ? value.toFixed(2) : value.toFixed(1)}x`;
}

function drawSlos(slos) {
  const table = el("table", { class: "slos" });
  table.append(el("tr", {}, ...["SLO", "Indicator", "Target", "Status", "Budget left", "Burn rate",
    "Burn-rate alerts"].map((h) => el("th", {}, h))));
  for (const s of slos) {
    const sli = s.sli === null ? "–" : `${s.sli.toFixed(3)} %`;
    const counted = `${s.good} of ${s.total} ${s.counted} in ${Math.round(s.seconds)} s`;
    const state = s.error ? s.error : STATE_TEXT[s.state] + (s.burning ? ", burning" : "");
    const budget = s.budget_left === null ? "–" : `${(100 * s.budget_left).toFixed(1)} %`;
    const burn = rateText(s.burn_rate) + (s.exhaustion_text ? ` (a ${s.window} budget lasts ${s.exhaustion_text})` : "");
    const alerts = el("td", { class: "alerts" });
    for (const a of s.alerts) {
      alerts.append(el("div", { class: a.firing ? "firing" : "", "data-alert": a.name, "data-firing": a.firing },
        `${a.name}: ${rateText(a.long)} over ${a.long_window}, ${rateText(a.short)} over ${a.short_window}` +
        ` (fires at ${a.factor}x)${a.firing ? " FIRING" : ""}`));
    }
    table.append(el("tr", { "data-slo": s.key, "data-state": s.state, "data-burning": s.burning,
      "data-sli": s.sli, "data-burn-rate": s.burn_rate, "data-budget-left": s.budget_left,
      class: `slo ${s.state.replace(" ", "-")}${s.burning ? " burning" : ""}` },
      el("td", { class: "name" }, s.name), el("td", { title: counted }, sli),
      el("td", {}, `${s.target} % / ${s.window}`), el("td", { class: "state" }, state),
      el("td", {}, budget), el("td", {}, burn), alerts));
  }
  return el("section", { class: "slo-list" },
    el("div", { class: "section-title" }, "Service level objectives, over the data held"), table);
}

async function drawList(main) {
  const [dashboards, status, slos] = await Promise.all([
    getJson("/api/dashboards"), getJson("/api/status"), getJson("/api/slos")]);
  showStatus(status);
  document.getElementById("title").textContent = "Dashboards";
  const list = el("nav", { class: "list" });
  for (const d of dashboards) {
    list.append(el("a", { href: `/d/${encodeURIComponent(d.key)}`, "data-key": d.key },
      el("div", { class: "name" }, d.title), el("div", { class: "about" }, d.description)));
  }
  const sources = el("div", { class: "sources" });
  for (const s of status.sources) {
    sources.append(el("div", { class: s.ok ? "" : "bad" },
      s.ok ? `${s.url}: ${s.series} series read, ${s.ignored} samples not from obs`
        : s.error || `${s.url}: not read yet`));  // errors name their source
  }
  main.replaceChildren(...(slos.length ? [drawSlos(slos)] : []), list, sources);
}

// --- one dashboard -----------------------------------------------------------------------

function place(node, box) {
  node.style.gridColumn = `${box.x + 1} / span ${box.width}`;
  node.style.gridRow = `${box.y + 1} / span ${box.height}`;
  return node;
}

function drawVariables(model) {
  const holder = document.getElementById("variables");
  holder.replaceChildren();
  for (const v of model.variables) {
    const select = el("select", { name: v.name });
    for (const value of ["*", ...v.values]) {
      select.append(el("option", { value, selected: value === v.value ? "" : null }, value));
    }
    select.addEventListener("change", () => {
      const next = new URLSearchParams(location.search);
      if (select.value === "*") next.delete(v.name); else next.set(v.name, select.value);
      history.replaceState(null, "", `${location.pathname}?${next}`);
      refresh();
    });
    holder.append(el("label", {}, `$${v.name}`, select));
  }
}

function drawWidgets(widgets) {
  const grid = el("div", { class: "grid" });
  for (const w of widgets) grid.append(place(drawWidget(w), w.box));
  return grid;
}

function drawWidget(w) {
  if (w.kind === "group") {
    const group = el("section", { class: "group", "data-kind": "group", "data-title": w.title });
    if (w.background_color) group.style.background = w.background_color;
    if (w.show_title) group.append(el("div", { class: "group-title" }, w.title));
    group.append(drawWidgets(w.children));
    return group;
  }
  const node = el("div", { class: `widget ${w.kind.replace("_", "-")}`, "data-kind": w.kind });
  if (w.kind === "note") {
    if (w.background_color) node.style.background = w.background_color;
    node.append(drawNote(w));
    return node;
  }
  node.setAttribute("data-title", w.title);
  node.append(el("div", { class: "widget-title", title: w.title }, w.title));
  const body = el("div", { class: "body" });
  node.append(body);
  if (w.error) {
    body.append(el("div", { class: "error", "data-error": w.error }, w.error));
    return node;
  }
  const draw = { timeseries: drawTimeseries, heatmap: drawHeatmap, query_value: drawValue,
    toplist: drawToplist, distribution: drawDistribution }[w.kind];
  // Charts need their size, known once the node is in the document: drawn after layout.
  pending.push(() => draw(body, w));
  return node;
}

let pending = [];

// A tiny Markdown subset (paragraphs, `code`, **bold**, [links](url)), built as DOM nodes so
// that no text is ever parsed as HTML.
function drawNote(w) {
  const note = el("div", { class: "note" });
  if (w.text_align) note.style.textAlign = w.text_align;
  if (w.font_size) note.style.fontSize = `${w.font_size}px`;
  for (const paragraph of w.content.split(/\n\s*\n/)) {
    const p = el("p", {});
    const pattern = /(`[^`]+`|\*\*[^*]+\*\*|\[[^\]]+\]\([^)\s]+\))/g;
    let last = 0;
    for (const match of paragraph.matchAll(pattern)) {
      p.append(paragraph.slice(last, match.index));
      const token = match[0];
      if (token.startsWith("`")) p.append(el("code", {}, token.slice(1, -1)));
      else if (token.startsWith("**")) p.append(el("strong", {}, token.slice(2, -2)));
      else {
        const [, text, href] = token.match(/\[([^\]]+)\]\(([^)]+)\)/);
        p.append(/^https?:|^\//.test(href) ? el("a", { href }, text) : text);
      }
      last = match.index + token.length;
    }
    p.append(paragraph.slice(last));
    note.append(p);
  }
  return note;
}

function noData(body) {
  body.append(el("div", { class: "nodata" }, "no data"));
}

function drawValue(body, w) {
  body.append(el("div", { class: "value", "data-value": w.value }, w.text));
}

function drawToplist(body, w) {
  if (!w.rows.length) return noData(body);
  const top = Math.max(...w.rows.map((r) => Math.abs(r.value || 0)), 1e-300);
  const table = el("table", {});
  for (const r of w.rows) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * Math.abs(r.value || 0)) / top}%`;
    table.append(el("tr", { "data-name": r.name, "data-value": r.value },
      el("td", { class: "name", title: r.name }, fill, el("span", {}, r.name)),
      el("td", { class: "amount" }, el("span", {}, r.text))));
  }
  body.append(table);
}

function legend(body, series) {
  const list = el("ul", { class: "legend" });
  series.forEach((s, i) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = COLORS[i % COLORS.length];
    list.append(el("li", { "data-name": s.name, "data-last": s.last },
      swatch, el("span", { class: "name", title: s.name }, s.name), el("span", { class: "last" }, s.text)));
  });
  body.append(list);
}

function chart(body) {
  const svg = svgEl("svg", {});
  body.append(svg);
  const width = Math.max(svg.clientWidth, 120);
  const height = Math.max(svg.clientHeight, 60);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return { svg, width, height, left: 46, right: width - 4, top: 4, bottom: height - 14 };
}

function timeLabels(c, times) {
  if (times.length < 2) return;
  for (const [i, anchor] of [[0, "start"], [times.length - 1, "end"]]) {
    const text = svgEl("text", { x: i ? c.right : c.left, y: c.height - 2, "text-anchor": anchor, class: "axis" });
    text.textContent = new Date(times[i] * 1000).toLocaleTimeString([], { hour12: false });
    c.svg.append(text);
  }
}

function drawTimeseries(body, w) {
  const values = w.series.flatMap((s) => s.points).filter((v) => v !== null);
  if (!values.length) return noData(body);
  const c = chart(body);
  const n = w.times.length;
  const lo = w.ticks[0].value;
  const hi = w.ticks[w.ticks.length - 1].value;
  const x = (i) => c.left + (n > 1 ? ((c.right - c.left) * i) / (n - 1) : (c.right - c.left) / 2);
  const y = (v) => c.bottom - ((c.bottom - c.top) * (v - lo)) / (hi - lo || 1);
  for (const tick of w.ticks) {
    c.svg.append(svgEl("line", { x1: c.left, x2: c.right, y1: y(tick.value), y2: y(tick.value), class: "gridline" }));
    const label = svgEl("text", { x: c.left - 4, y: y(tick.value) + 3, "text-anchor": "end", class: "axis" });
    label.textContent = tick.text;
    c.svg.append(label);
  }
  timeLabels(c, w.times);
  if (w.display === "bars") {
    const slot = (c.right - c.left) / Math.max(n, 1);
    const stacked = new Array(n).fill(0);
    w.series.forEach((s, k) => {
      s.points.forEach((v, i) => {
        if (v === null || v === 0) return;
        const base = stacked[i];
        stacked[i] += v;
        c.svg.append(svgEl("rect", { x: c.left + slot * i + slot * 0.1, width: slot * 0.8,
          y: y(Math.max(base, stacked[i])), height: Math.abs(y(base) - y(stacked[i])),
          fill: COLORS[k % COLORS.length] }));
      });
    });
  } else {
    w.series.forEach((s, k) => {
      const color = COLORS[k % COLORS.length];
      let d = "";
      let run = [];
      const flush = () => {
        if (run.length === 1) {
          c.svg.append(svgEl("circle", { cx: x(run[0]), cy: y(s.points[run[0]]), r: 2, fill: color }));
        } else if (run.length > 1) {
          const line = run.map((i, j) => `${j ? "L" : "M"}${x(i).toFixed(1)},${y(s.points[i]).toFixed(1)}`).join("");
          d += line;
          if (w.display === "area") {
            const first = run[0];
            const end = run[run.length - 1];
            c.svg.append(svgEl("path", { d: `${line}L${x(end)},${y(Math.max(lo, 0))}L${x(first)},${y(Math.max(lo, 0))}Z`,
              fill: color, "fill-opacity": 0.25, stroke: "none" }));
          }
        }
        run = [];
      };
      s.points.forEach((v, i) => (v === null ? flush() : run.push(i)));
      flush();
      if (d) c.svg.append(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 1.5, "data-name": s.name,
        "stroke-dasharray": s.forecast ? "5 3" : null }));
    });
  }
  for (const m of w.markers || []) {
    if (m.value < lo || m.value > hi) continue;
    c.svg.append(svgEl("line", { x1: c.left, x2: c.right, y1: y(m.value), y2: y(m.value),
      stroke: (m.display_type || "").includes("error") ? "#c6242d" : "#b88a00", "stroke-dasharray": "4 3" }));
  }
  legend(body, w.series);
}

function drawHeatmap(body, w) {
  const values = w.series.flatMap((s) => s.points).filter((v) => v !== null);
  if (!values.length) return noData(body);
  const c = chart(body);
  const top = Math.max(...values, 1e-300);
  const n = w.times.length;
  const rows = w.series.length;
  const cellW = (c.right - c.left) / Math.max(n, 1);
  const cellH = (c.bottom - c.top) / rows;
  w.series.forEach((s, r) => {
    s.points.forEach((v, i) => {
      if (v === null) return;
      c.svg.append(svgEl("rect", { x: c.left + cellW * i, y: c.top + cellH * r, width: cellW + 0.5,
        height: cellH - 1, fill: "#632ca6", "fill-opacity": (0.15 + (0.85 * v) / top).toFixed(3) }));
    });
    const label = svgEl("text", { x: c.left - 4, y: c.top + cellH * (r + 0.5) + 3, "text-anchor": "end", class: "axis" });
    label.textContent = s.text;
    c.svg.append(label);
  });
  timeLabels(c, w.times);
  legend(body, w.series);
}

function drawDistribution(body, w) {
  if (!w.count) return noData(body);
  const c = chart(body);
  const buckets = w.buckets;
  const top = Math.max(...buckets.map((b) => b.count), 1e-300);
  const slot = (c.right - c.left) / buckets.length;
  buckets.forEach((b, i) => {
    const h = ((c.bottom - c.top) * b.count) / top;
    c.svg.append(svgEl("rect", { x: c.left + slot * i + 1, width: slot - 2, y: c.bottom - h, height: h,
      fill: "#4182c0", "data-upper": b.upper, "data-count": b.count }));
    if (i % Math.ceil(buckets.length / 6) === 0 || i === buckets.length - 1) {
      const label = svgEl("text", { x: c.left + slot * (i + 0.5), y: c.height - 2, "text-anchor": "middle", class: "axis" });
      label.textContent = `≤${b.label}`;
      c.svg.append(label);
    }
  });
  const total = svgEl("text", { x: c.left - 4, y: c.top + 10, "text-anchor": "end", class: "axis", "data-count": w.count });
  total.textContent = `n=${w.count}`;
  c.svg.append(total);
}

async function drawDashboard(main, key) {
  const query = new URLSearchParams(location.search);
  query.delete("snapshot");
  const [model, status] = await Promise.all([
    getJson(`/api/dashboards/${encodeURIComponent(key)}?${query}`),
    getJson("/api/status"),
  ]);
  showStatus(status);
  document.title = `${model.title} · obs preview`;
  document.getElementById("title").textContent = model.title;
  drawVariables(model);
  pending = [];
  const grid = drawWidgets(model.widgets);
  main.replaceChildren(el("p", { class: "description" }, model.description), grid);
  for (const draw of pending) draw();
  pending = [];
}

async function refresh() {
  const main = document.getElementById("main");
  const match = location.pathname.match(/^\/d\/(.+)$/);
  try {
    if (match) await drawDashboard(main, decodeURIComponent(match[1]));
    else await drawList(main);
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
    // the content's height, not the window's: a snapshot is shot exactly this tall
    const bottom = document.getElementById("main").getBoundingClientRect().bottom + window.scrollY;
    document.body.dataset.height = String(Math.ceil(bottom));
  } catch (error) {
    const node = document.getElementById("status");
    node.className = "status bad";
    node.textContent = `obs preview is not answering: ${error.message}`;
  }
}

async function loop() {
  await refresh();
  if (!snapshot) setTimeout(loop, refreshMs);
}

if (snapshot) document.body.classList.add("snapshot");
loop();
