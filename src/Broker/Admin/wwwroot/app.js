// LogBroker console: a small single-page app over the broker's /api. No dependencies, no network
// access beyond the broker; every text goes through textContent (never innerHTML).
"use strict";

const main = document.getElementById("main");
const statusLine = document.getElementById("status");
let timers = [];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const svgNs = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}

async function api(path, options) {
  const response = await fetch("/api" + path, options);
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((body && body.error) || response.status + " " + response.statusText);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

const nf = new Intl.NumberFormat("en-US");
function num(n) { return n === null || n === undefined ? "–" : nf.format(n); }
function bytes(n) {
  if (n === null || n === undefined || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  seconds = Math.round(seconds);
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
function ms(value) { return value === null || value === undefined ? "–" : duration(value / 1000); }
function when(t) { return new Date(t).toISOString().replace("T", " ").replace("Z", " UTC"); }

function cell(value, cls) { return el("td", { class: cls }, value); }
function numCell(value, col) { return el("td", { class: "num", "data-col": col }, num(value)); }

function table(caption, headers, rows, id) {
  return el("div", { class: "scroll" },
    el("table", { id },
      el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, headers.map(h => el("th", { scope: "col", class: h.num ? "num" : null, text: h.label || h })))),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headers.length, class: "muted", text: "None." }))])));
}

function setStatus(text) { statusLine.textContent = text; }

function every(msPeriod, fn) {
  const handle = setInterval(() => { fn().catch(e => setStatus("Refresh failed: " + e.message)); }, msPeriod);
  timers.push(handle);
}

// A line chart of [t, value] points (and an optional second series), drawn as inline SVG.
function lineChart(label, series, format) {
  const width = 600, height = 160, left = 56, right = 8, top = 10, bottom = 22;
  const all = series.flatMap(s => s.points);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  chart.append(svg("title", { text: label }));
  if (all.length < 1) {
    chart.append(svg("text", { x: left, y: height / 2, text: "No samples yet" }));
    return chart;
  }
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0]));
  const vmax = Math.max(1, ...all.map(p => p[1]));
  const x = t => left + (t1 === t0 ? (width - left - right) : (t - t0) / (t1 - t0) * (width - left - right));
  const y = v => top + (1 - v / vmax) * (height - top - bottom);
  for (const f of [0, 0.5, 1]) {
    chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(vmax * f), y2: y(vmax * f) }));
    chart.append(svg("text", { x: 2, y: y(vmax * f) + 4, text: format(vmax * f) }));
  }
  chart.append(svg("text", { x: left, y: height - 4, text: new Date(t0).toLocaleTimeString() }));
  chart.append(svg("text", { x: width - right - 60, y: height - 4, text: new Date(t1).toLocaleTimeString() }));
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    chart.append(svg("path", { class: i === 0 ? "line" : "line2", d, "data-points": s.points.length }));
  });
  return chart;
}

function figure(caption, chart, legend) {
  return el("figure", {}, el("figcaption", { text: caption }), chart, legend ? el("p", { class: "legend" }, legend) : null);
}

// ---- views ----

async function overview() {
  const [info, rates] = await Promise.all([api("/broker"), api("/rates")]);
  const rateFmt = v => (v < 10 ? v.toFixed(1) : nf.format(Math.round(v))) + "/s";
  const charts = el("div", { class: "charts" });
  const drawRates = r => {
    charts.replaceChildren(
      figure("Produce rate (records/s)", lineChart("Produce rate, records per second", [{ points: r.map(s => [s.timeMs, s.recordsInPerSec]) }], rateFmt),
        ["Latest: ", el("span", { class: "k1", id: "produce-rate", text: r.length ? rateFmt(r[r.length - 1].recordsInPerSec) : "–" })]),
      figure("Fetch rate (records/s)", lineChart("Fetch rate, records per second", [{ points: r.map(s => [s.timeMs, s.recordsOutPerSec]) }], rateFmt),
        ["Latest: ", el("span", { class: "k1", id: "fetch-rate", text: r.length ? rateFmt(r[r.length - 1].recordsOutPerSec) : "–" })]));
  };
  const cards = el("dl", { class: "cards", id: "overview-cards" });
  const drawInfo = i => {
    const item = (label, value, id) => el("div", { class: "card" }, el("dt", { text: label }), el("dd", { id, text: value }));
    cards.replaceChildren(
      item("Version", i.version.split("+")[0], "version"),
      item("Uptime", duration(i.uptimeSeconds), "uptime"),
      item("Node", String(i.nodeId), "node"),
      item("Cluster id", i.clusterId, "cluster"),
      item("Kafka listener", i.kafkaListener + (i.advertised !== i.kafkaListener ? ` (advertised ${i.advertised})` : ""), "kafka-listener"),
      item("Admin listener", i.adminListener, "admin-listener"),
      item("Topics", num(i.topics), "topic-count"),
      item("Partitions", num(i.partitions), "partition-count"),
      item("Consumer groups", num(i.groups), "group-count"),
      item("Disk free", `${bytes(i.diskFreeBytes)} of ${bytes(i.diskTotalBytes)}`, "disk"),
      item("Records in / out", `${num(i.recordsIn)} / ${num(i.recordsOut)}`, "records-total"),
      item("Console writes", i.allowWrites ? "allowed" : "off (read-only)", "writes"));
  };
  drawInfo(info);
  drawRates(rates);
  main.replaceChildren(el("h1", { text: "Overview" }), cards, el("h2", { text: "Throughput" }), charts);
  every(2000, async () => { drawInfo(await api("/broker")); drawRates(await api("/rates")); });
}

async function topics(params) {
  const search = params.get("search") || "";
  const list = await api("/topics?search=" + encodeURIComponent(search));
  const rows = list.topics.map(t => el("tr", {},
    el("th", { scope: "row" }, el("a", { href: "#/topics/" + encodeURIComponent(t.name), text: t.name })),
    numCell(t.partitions, "partitions"), numCell(t.records, "records"), cell(bytes(t.sizeBytes), "num"),
    cell(t.retentionMs === null ? "forever" : duration(t.retentionMs / 1000), "num"),
    cell(t.loadedPartitions < t.partitions ? `${t.loadedPartitions} of ${t.partitions} loaded` : "", "muted")));
  const form = el("form", { class: "inline", role: "search", onsubmit: e => { e.preventDefault(); location.hash = "#/topics?search=" + encodeURIComponent(form.elements.search.value); } },
    el("label", {}, "Filter by name", el("input", { name: "search", type: "search", value: search })),
    el("button", { type: "submit", text: "Filter" }));
  main.replaceChildren(el("h1", { text: "Topics" }), form,
    table(`${num(list.total)} topics` + (list.topics.length < list.total ? `, first ${list.topics.length} shown` : ""),
      ["Topic", { label: "Partitions", num: 1 }, { label: "Records", num: 1 }, { label: "Size", num: 1 }, { label: "Retention", num: 1 }, "Note"], rows, "topics-table"));
}

async function topic(name) {
  const t = await api("/topics/" + encodeURIComponent(name));
  const base = "#/topics/" + encodeURIComponent(name);
  const partitions = t.partitions.map(p => el("tr", {},
    el("th", { scope: "row", class: "num", text: String(p.partition) }),
    numCell(p.startOffset, "start"), numCell(p.endOffset, "end"), numCell(p.records, "records"), cell(bytes(p.sizeBytes), "num"), numCell(p.segments, "segments"),
    el("td", {}, el("a", { href: `${base}/messages?partition=${p.partition}`, text: "Browse" }))));
  const configs = t.configs.map(c => el("tr", {}, el("th", { scope: "row", text: c.name }), cell(c.value, "value"), cell(c.override ? "topic" : "default")));
  const groups = t.groups.map(g => el("li", {}, el("a", { href: "#/groups/" + encodeURIComponent(g), text: g })));
  main.replaceChildren(el("h1", {}, "Topic ", el("span", { id: "topic-name", text: t.name })),
    el("p", { class: "muted", text: `id ${t.id}${t.internal ? " · internal" : ""}` }),
    el("p", {}, el("a", { href: `${base}/messages?partition=0`, text: "Browse messages" })),
    el("h2", { text: "Partitions" }),
    table("Offsets and size per partition", [{ label: "Partition", num: 1 }, { label: "Start offset", num: 1 }, { label: "End offset", num: 1 }, { label: "Records", num: 1 }, { label: "Size", num: 1 }, { label: "Segments", num: 1 }, "Messages"], partitions, "partitions-table"),
    el("h2", { text: "Groups reading this topic" }),
    groups.length ? el("ul", { id: "topic-groups" }, groups) : el("p", { class: "muted", text: "No group has committed offsets of this topic." }),
    el("h2", { text: "Configuration" }),
    table("Effective settings", ["Name", "Value", "Source"], configs, "configs-table"));
}

function decode(b64, format) {
  if (b64 === null || b64 === undefined) return { text: "null", cls: "muted" };
  const raw = atob(b64);
  const data = Uint8Array.from(raw, c => c.charCodeAt(0));
  if (format === "hex") return { text: Array.from(data, b => b.toString(16).padStart(2, "0")).join(" ") };
  let text;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(data); } catch { return { text: Array.from(data, b => b.toString(16).padStart(2, "0")).join(" "), cls: "muted" }; }
  if (format === "json") {
    try { return { text: JSON.stringify(JSON.parse(text), null, 2) }; } catch { return { text }; }
  }
  return { text };
}

async function messages(name, params) {
  const partition = Number(params.get("partition") || 0);
  const format = params.get("format") || "text";
  const limit = Number(params.get("limit") || 20);
  let query = `?limit=${limit}`;
  if (params.get("offset") !== null && params.get("offset") !== "") query += `&offset=${Number(params.get("offset"))}`;
  else if (params.get("time")) query += `&timestamp=${Date.parse(params.get("time") + "Z")}`;
  const [t, page] = await Promise.all([
    api("/topics/" + encodeURIComponent(name)),
    api(`/topics/${encodeURIComponent(name)}/partitions/${partition}/messages${query}`)]);
  const base = `#/topics/${encodeURIComponent(name)}/messages`;
  const go = over => {
    const p = new URLSearchParams({ partition, format, limit, ...over });
    location.hash = base + "?" + p.toString();
  };
  const form = el("form", { class: "inline", id: "browse-form", onsubmit: e => {
    e.preventDefault();
    const f = e.target.elements;
    const over = { partition: f.partition.value, format: f.format.value, limit: f.limit.value };
    if (f.offset.value !== "") over.offset = f.offset.value; else if (f.time.value) over.time = f.time.value;
    go(over);
  } },
    el("label", {}, "Partition", el("select", { name: "partition" }, t.partitions.map(p => el("option", { value: p.partition, selected: p.partition === partition, text: String(p.partition) })))),
    el("label", {}, "Offset", el("input", { name: "offset", type: "number", min: 0, value: params.get("offset") ?? "", inputmode: "numeric" })),
    el("label", {}, "or time (UTC)", el("input", { name: "time", type: "datetime-local", step: 1, value: params.get("time") ?? "" })),
    el("label", {}, "Records", el("input", { name: "limit", type: "number", min: 1, max: 500, value: limit })),
    el("label", {}, "Show values as", el("select", { name: "format" }, ["text", "json", "hex"].map(f => el("option", { value: f, selected: f === format, text: f })))),
    el("button", { type: "submit", text: "Show" }));
  const rows = page.messages.map(m => {
    const key = decode(m.key, format === "hex" ? "hex" : "text");
    const value = decode(m.value, format);
    const headers = m.headers.map(h => `${h.key}: ${decode(h.value, "text").text}`).join("\n");
    return el("tr", { "data-offset": m.offset },
      el("th", { scope: "row", class: "num", text: String(m.offset) }),
      cell(when(m.timestamp), "muted"),
      el("td", { class: "value " + (key.cls || ""), "data-col": "key", text: key.text }),
      el("td", { class: "value " + (value.cls || ""), "data-col": "value", text: value.text }),
      el("td", { class: "value", "data-col": "headers", text: headers }));
  });
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", class: "secondary", id: "page-back", disabled: page.fromOffset <= page.startOffset, onclick: () => go({ offset: page.prevOffset }), text: "← Earlier" }),
    el("button", { type: "button", class: "secondary", id: "page-forward", disabled: page.nextOffset >= page.endOffset, onclick: () => go({ offset: page.nextOffset }), text: "Later →" }),
    el("button", { type: "button", class: "secondary", onclick: () => go({ offset: Math.max(page.startOffset, page.endOffset - limit) }), text: "Latest" }));
  main.replaceChildren(
    el("h1", {}, "Messages of ", el("a", { href: "#/topics/" + encodeURIComponent(name), text: name })),
    form,
    el("p", { class: "muted", id: "page-summary", text: `Partition ${partition}: start offset ${num(page.startOffset)}, end offset ${num(page.endOffset)}; showing ${page.messages.length} from ${num(page.fromOffset)} (${bytes(page.bytesRead)} read${page.truncated ? ", stopped at the byte limit" : ""}).` }),
    pager,
    table(`Records of partition ${partition}`, [{ label: "Offset", num: 1 }, "Timestamp", "Key", "Value", "Headers"], rows, "messages-table"));
}

async function groups() {
  const list = await api("/groups");
  const rows = list.map(g => el("tr", {},
    el("th", { scope: "row" }, el("a", { href: "#/groups/" + encodeURIComponent(g.id), text: g.id })),
    cell(g.type), cell(g.state), cell(g.protocol || g.protocolType), numCell(g.members, "members"), numCell(g.lag, "lag"), cell(ms(g.maxTimeLagMs), "num")));
  main.replaceChildren(el("h1", { text: "Consumer groups" }),
    table(`${list.length} groups`, ["Group", "Protocol", "State", "Assignor", { label: "Members", num: 1 }, { label: "Lag (records)", num: 1 }, { label: "Max time lag", num: 1 }], rows, "groups-table"));
}

async function group(id) {
  const g = await api("/groups/" + encodeURIComponent(id));
  const chart = el("div", { id: "lag-chart" });
  const drawHistory = h => {
    chart.replaceChildren(figure("Lag over time (records, all partitions)",
      lineChart("Total lag of the group over time, in records", [{ points: h.map(s => [s.timeMs, s.lag]) }], v => nf.format(Math.round(v))),
      ["Latest: ", el("span", { class: "k1", id: "lag-latest", text: h.length ? num(h[h.length - 1].lag) : "–" }), ` records · ${h.length} samples`]));
  };
  const members = g.members.map(m => el("tr", {},
    el("th", { scope: "row", class: "value", text: m.memberId }), cell(m.clientId), cell(m.clientHost), cell(m.instanceId || "–"),
    cell(m.assignment.map(a => `${a.topic}: ${a.partitions.join(", ")}`).join("; ") || "–", "value")));
  const offsets = g.offsets.map(o => el("tr", { "data-topic": o.topic, "data-partition": o.partition },
    el("th", { scope: "row" }, el("a", { href: `#/topics/${encodeURIComponent(o.topic)}/messages?partition=${o.partition}&offset=${o.committed}`, text: o.topic })),
    el("td", { class: "num", text: String(o.partition) }),
    numCell(o.committed, "committed"), numCell(o.logEnd, "end"), numCell(o.lag, "lag"), cell(ms(o.timeLagMs), "num")));
  const topicsOf = [...new Set(g.offsets.map(o => o.topic))];
  const result = el("div", { id: "reset-result" });
  const resetForm = el("form", { class: "inline", id: "reset-form", onsubmit: e => e.preventDefault() },
    el("label", {}, "Topic", el("select", { name: "topic" }, el("option", { value: "", text: "all committed" }), topicsOf.map(t => el("option", { value: t, text: t })))),
    el("label", {}, "Reset to", el("select", { name: "to" }, ["earliest", "latest", "offset", "timestamp"].map(t => el("option", { value: t, text: t })))),
    el("label", {}, "Offset or time (ms since epoch)", el("input", { name: "value", type: "number", inputmode: "numeric" })),
    el("button", { type: "button", id: "dry-run", class: "secondary", onclick: () => reset(true), text: "Dry run" }),
    el("button", { type: "button", id: "apply-reset", disabled: !g.allowWrites, onclick: () => reset(false), text: "Apply reset" }),
    el("button", { type: "button", id: "delete-group", class: "danger", disabled: !g.allowWrites, onclick: deleteGroup, text: "Delete group" }));
  async function reset(dryRun) {
    const f = resetForm.elements;
    const body = { topic: f.topic.value || null, to: f.to.value, dryRun };
    if (f.to.value === "offset") body.offset = Number(f.value.value);
    if (f.to.value === "timestamp") body.timestamp = Number(f.value.value);
    if (!dryRun && !confirm(`Reset the offsets of ${id}?`)) return;
    let r;
    try {
      r = await api(`/groups/${encodeURIComponent(id)}/reset-offsets`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    } catch (e) {
      if (!e.body || !e.body.plan) { result.replaceChildren(el("p", { class: "bad", role: "alert", text: e.message })); return; }
      r = e.body;
    }
    const rows = r.plan.map(p => el("tr", {}, el("th", { scope: "row", text: p.topic }), el("td", { class: "num", text: String(p.partition) }),
      numCell(p.current, "current"), numCell(p.target, "target"), numCell(p.lagAfter, "lag-after")));
    result.replaceChildren(
      el("p", { class: r.error ? "bad" : "ok", role: "alert", text: r.error ? "Not applied: " + r.error : r.dryRun ? "Dry run: nothing was changed." : "Offsets reset." }),
      table(r.dryRun ? "Dry run: offsets the reset would commit" : "Committed offsets", ["Topic", { label: "Partition", num: 1 }, { label: "Current", num: 1 }, { label: "New", num: 1 }, { label: "Lag after", num: 1 }], rows, "reset-table"));
  }
  async function deleteGroup() {
    if (!confirm(`Delete group ${id} and its committed offsets?`)) return;
    try { await api("/groups/" + encodeURIComponent(id), { method: "DELETE" }); location.hash = "#/groups"; }
    catch (e) { result.replaceChildren(el("p", { class: "bad", role: "alert", text: e.message })); }
  }
  main.replaceChildren(
    el("h1", {}, "Group ", el("span", { id: "group-id", text: g.id })),
    el("dl", { class: "cards" },
      el("div", { class: "card" }, el("dt", { text: "State" }), el("dd", { id: "group-state", text: g.state })),
      el("div", { class: "card" }, el("dt", { text: "Protocol" }), el("dd", { text: g.type + (g.protocol ? ` (${g.protocol})` : "") })),
      el("div", { class: "card" }, el("dt", { text: "Members" }), el("dd", { text: String(g.members.length) })),
      el("div", { class: "card" }, el("dt", { text: "Total lag" }), el("dd", { id: "group-lag", text: num(g.totalLag) }))),
    el("h2", { text: "Lag" }), chart,
    el("h2", { text: "Committed offsets" }),
    table("Committed offset and lag per partition", ["Topic", { label: "Partition", num: 1 }, { label: "Committed", num: 1 }, { label: "End offset", num: 1 }, { label: "Lag", num: 1 }, { label: "Time lag", num: 1 }], offsets, "offsets-table"),
    el("h2", { text: "Members" }),
    table("Members and their assignments", ["Member", "Client", "Host", "Instance", "Assignment"], members, "members-table"),
    el("h2", { text: "Reset offsets" }),
    ...(g.allowWrites ? [] : [el("p", { class: "muted", text: "Writes are off (Console:AllowWrites): the dry run shows what a reset would do." })]),
    resetForm, result);
  drawHistory(await api(`/groups/${encodeURIComponent(id)}/lag-history`));
  every(2000, async () => drawHistory(await api(`/groups/${encodeURIComponent(id)}/lag-history`)));
}

// ---- router ----

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const hash = location.hash.slice(1) || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const section = parts[0] || "overview";
  document.querySelectorAll("[data-nav]").forEach(a => a.toggleAttribute("aria-current", false));
  const current = document.querySelector(`[data-nav="${section}"]`);
  if (current) current.setAttribute("aria-current", "page");
  setStatus("");
  try {
    if (section === "overview") await overview();
    else if (section === "topics" && parts.length === 1) await topics(params);
    else if (section === "topics" && parts[2] === "messages") await messages(parts[1], params);
    else if (section === "topics") await topic(parts[1]);
    else if (section === "groups" && parts.length === 1) await groups();
    else if (section === "groups") await group(parts[1]);
    else main.replaceChildren(el("h1", { text: "Not found" }));
    document.title = (main.querySelector("h1")?.textContent || "") + " · LogBroker console";
  } catch (e) {
    main.replaceChildren(el("h1", { text: "Error" }), el("p", { class: "bad", role: "alert", text: e.message }));
  }
  main.setAttribute("data-ready", hash);
}

window.addEventListener("hashchange", route);
route();
