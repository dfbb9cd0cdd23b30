// The xray-gateway console. It reads everything through the public X-Ray API of the gateway
// that serves it (GetTraceSummaries, BatchGetTraces, GetGroups, GetServiceGraph), so every
// feature here is an API feature. Each view is a URL: /ui/traces, /ui/traces/<id>, /ui/map.

const PRESETS = [["5m", 300], ["15m", 900], ["1h", 3600], ["6h", 21600], ["1d", 86400]];
const main = document.getElementById("main");

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const ns = attrs.svg ? "http://www.w3.org/2000/svg" : null;
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "svg" || v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs = {}, ...children) {
  return el(tag, { ...attrs, svg: true }, ...children);
}

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function api(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await r.text();
  let json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { message: text };
  }
  if (!r.ok) throw new ApiError(json.__type || String(r.status), json.message || json.Message || r.statusText);
  return json;
}

const useUtc = () => localStorage.getItem("xray-console-utc") === "1";

function fmtTime(secs) {
  if (secs === undefined || secs === null) return "";
  const d = new Date(secs * 1000);
  if (useUtc()) return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDur(secs) {
  if (secs === undefined || secs === null || Number.isNaN(secs)) return "";
  if (secs < 1) return `${(secs * 1000).toFixed(secs < 0.01 ? 2 : 0)} ms`;
  if (secs < 60) return `${secs.toFixed(secs < 10 ? 2 : 1)} s`;
  return `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s`;
}

function fmtRate(perMinute) {
  return `${perMinute < 1 ? perMinute.toFixed(2) : perMinute.toFixed(1)}/min`;
}

function fmtAge(secs) {
  const age = Date.now() / 1000 - secs;
  if (age < 60) return `${Math.max(0, Math.round(age))} s`;
  if (age < 3600) return `${Math.round(age / 60)} min`;
  if (age < 86400) return `${(age / 3600).toFixed(1)} h`;
  return `${(age / 86400).toFixed(1)} d`;
}

function toLocalInput(secs) {
  const d = new Date(secs * 1000);
  if (useUtc()) return d.toISOString().slice(0, 19);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 19);
}

function fromLocalInput(v) {
  if (!v) return null;
  const t = useUtc() ? Date.parse(v + "Z") : Date.parse(v);
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

/// An X-Ray trace ID from what a person typed: `1-xxxxxxxx-yyyy…` or 32 hex digits (W3C).
function normaliseTraceId(text) {
  const t = text.trim().toLowerCase();
  if (/^1-[0-9a-f]{8}-[0-9a-f]{24}$/.test(t)) return t;
  if (/^[0-9a-f]{32}$/.test(t)) return `1-${t.slice(0, 8)}-${t.slice(8)}`;
  return null;
}

function statusOf(d) {
  if (d.fault) return "fault";
  if (d.throttle) return "throttle";
  if (d.error) return "error";
  return "ok";
}

function quote(s) {
  return `"${String(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/// The time window of a view's query string: `start`/`end` (epoch seconds) or a preset `range`.
function windowOf(q) {
  const start = Number(q.get("start"));
  const end = Number(q.get("end"));
  if (q.get("start") && q.get("end") && end > start) return { start, end, range: null };
  const range = PRESETS.find(([k]) => k === q.get("range")) || PRESETS[0];
  const now = Math.floor(Date.now() / 1000);
  return { start: now - range[1], end: now + 1, range: range[0] };
}

function viewUrl(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function navigate(url, replace = false) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

let refreshTimer = null;
function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

// ---------------------------------------------------------------- shared controls

async function groupSelect(current, onChange) {
  const sel = el("select", { id: "group", "aria-label": "Group", onchange: () => onChange(sel.value) });
  sel.append(el("option", { value: "" , text: "Default group" }));
  try {
    const r = await api("/Groups", {});
    for (const g of r.Groups || []) {
      if (g.GroupName === "Default") continue;
      sel.append(el("option", { value: g.GroupName, text: g.GroupName, selected: g.GroupName === current }));
    }
  } catch (e) {
    sel.append(el("option", { disabled: true, text: `groups unavailable: ${e.message}` }));
  }
  return sel;
}

function rangeControls(win, go) {
  const box = el("div", { class: "range" });
  for (const [k] of PRESETS) {
    box.append(el("button", {
      type: "button", class: win.range === k ? "preset active" : "preset", "data-range": k,
      onclick: () => go({ range: k, start: null, end: null }),
    }, `Last ${k}`));
  }
  const from = el("input", { type: "datetime-local", step: "1", id: "range-start", value: toLocalInput(win.start), "aria-label": "From" });
  const to = el("input", { type: "datetime-local", step: "1", id: "range-end", value: toLocalInput(win.end), "aria-label": "To" });
  box.append(el("span", { class: "custom" }, from, " – ", to, el("button", {
    type: "button", id: "range-apply",
    onclick: () => {
      const s = fromLocalInput(from.value), e = fromLocalInput(to.value);
      if (s !== null && e !== null && e > s) go({ range: null, start: s, end: e });
    },
  }, "Apply")));
  return box;
}

// ---------------------------------------------------------------- trace list

async function traceList(q) {
  const win = windowOf(q);
  const filter = q.get("filter") || "";
  const group = q.get("group") || "";
  const params = { filter, group, range: win.range, start: win.range ? null : win.start, end: win.range ? null : win.end };
  const go = (change) => navigate(viewUrl("/ui/traces", { ...params, ...change }));

  const input = el("input", {
    id: "filter", value: filter, spellcheck: "false", autocomplete: "off",
    placeholder: 'Filter expression, e.g. service("api") { fault } AND responsetime > 1',
    "aria-label": "Filter expression",
  });
  const form = el("form", { class: "filter", onsubmit: (e) => { e.preventDefault(); go({ filter: input.value.trim() }); } },
    input, el("button", { type: "submit" }, "Run"));
  const problem = el("div", { id: "filter-error", class: "filter-error", hidden: true });
  const auto = el("input", { type: "checkbox", id: "auto-refresh", checked: q.get("refresh") === "1" });
  auto.addEventListener("change", () => navigate(viewUrl("/ui/traces", { ...params, refresh: auto.checked ? "1" : null }), true));
  const status = el("div", { id: "list-status", class: "status" });
  const body = el("tbody");
  const table = el("table", { id: "traces", class: "traces" },
    el("thead", {}, el("tr", {}, ["ID", "Age", "Method", "Status", "Response", "Duration", "URL", "Annotations", "Client IP"]
      .map((h) => el("th", {}, h)))),
    body);
  const more = el("button", { id: "more", type: "button", hidden: true }, "More traces");

  main.replaceChildren(
    el("h1", {}, "Traces"),
    el("div", { class: "toolbar" }, rangeControls(win, go), await groupSelect(group, (g) => go({ group: g })),
      el("label", { class: "auto" }, auto, " Auto-refresh")),
    form, problem, status, table, more);

  // A group's traces are those its filter selects: the group's name is put in front of the
  // person's expression, and error positions are given back relative to what they typed.
  const prefix = group ? `group.name = ${quote(group)}${filter ? " AND (" : ""}` : "";
  const expression = group ? `${prefix}${filter}${filter ? ")" : ""}` : filter;
  let next = null;
  let shown = 0;

  async function page(first) {
    const req = { StartTime: win.start, EndTime: win.end, Sampling: false };
    if (expression) req.FilterExpression = expression;
    if (next) req.NextToken = next;
    status.textContent = "Loading…";
    let r;
    try {
      r = await api("/TraceSummaries", req);
    } catch (e) {
      status.textContent = "";
      showFilterError(problem, input, e, prefix.length);
      return;
    }
    problem.hidden = true;
    input.classList.remove("invalid");
    if (first) body.replaceChildren();
    const rows = (r.TraceSummaries || []).map(summaryRow);
    body.append(...rows);
    shown += rows.length;
    next = r.NextToken || null;
    more.hidden = !next;
    const reached = r.ApproximateTime ? ` · scanned back to ${fmtTime(r.ApproximateTime)}` : "";
    status.textContent = `${shown} trace${shown === 1 ? "" : "s"} from ${fmtTime(win.start)} to ${fmtTime(win.end)}` +
      `${next ? " · more available" : ""}${reached}`;
  }
  more.addEventListener("click", () => page(false));
  body.addEventListener("keydown", (e) => moveFocus(e, body, "tr"));
  await page(true);
  if (auto.checked) {
    refreshTimer = setInterval(() => { next = null; shown = 0; page(true); }, 5000);
  }
}

function showFilterError(box, input, e, shift) {
  input.classList.add("invalid");
  box.hidden = false;
  box.replaceChildren(el("div", { class: "message" }, `${e.code}: ${e.message}`));
  const at = /\bat (\d+)\.?$/.exec(e.message);
  if (at) {
    const text = input.value;
    const pos = Math.min(Math.max(0, Number(at[1]) - shift), text.length);
    box.append(el("pre", { class: "caret" }, text + "\n" + " ".repeat(pos) + "^"));
    input.focus();
    input.setSelectionRange(pos, pos);
  }
}

function summaryRow(s) {
  const http = s.Http || {};
  const href = `/ui/traces/${s.Id}`;
  const row = el("tr", {
    tabindex: "0", class: s.HasFault ? "fault" : s.HasThrottle ? "throttle" : s.HasError ? "error" : "ok",
    "data-trace-id": s.Id,
    onclick: () => navigate(href),
    onkeydown: (e) => { if (e.key === "Enter") navigate(href); },
  },
  el("td", { class: "id" }, el("a", { href, "data-link": true }, s.Id)),
  el("td", { title: fmtTime(s.StartTime) }, s.StartTime ? fmtAge(s.StartTime) : ""),
  el("td", {}, http.HttpMethod || ""),
  el("td", {}, http.HttpStatus ?? ""),
  el("td", {}, fmtDur(s.ResponseTime)),
  el("td", {}, fmtDur(s.Duration)),
  el("td", { class: "url", title: http.HttpURL || "" }, http.HttpURL || ""),
  el("td", {}, Object.keys(s.Annotations || {}).length),
  el("td", {}, http.ClientIp || ""));
  return row;
}

function moveFocus(e, container, selector) {
  const keys = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 };
  if (!(e.key in keys)) return;
  const items = [...container.querySelectorAll(selector)];
  const i = items.indexOf(document.activeElement);
  const target = items[Math.min(items.length - 1, Math.max(0, i + keys[e.key]))];
  if (target) {
    e.preventDefault();
    target.focus();
  }
}

// ---------------------------------------------------------------- trace view

function entityRows(docs) {
  // Every segment and subsegment, nested: a segment sits under the call whose id is its parent.
  const nodes = new Map();
  const all = [];
  const visit = (d, isSegment) => {
    const n = { d, isSegment, children: [] };
    all.push(n);
    if (d.id) nodes.set(d.id, n);
    for (const s of d.subsegments || []) n.children.push(visit(s, false));
    return n;
  };
  const tops = docs.map((d) => visit(d, true));
  const roots = [];
  for (const t of tops) {
    const parent = t.d.parent_id && nodes.get(t.d.parent_id);
    if (parent && parent !== t) parent.children.push(t);
    else roots.push(t);
  }
  const byStart = (a, b) => (a.d.start_time || 0) - (b.d.start_time || 0);
  const rows = [];
  const seen = new Set();
  const walk = (n, depth) => {
    if (seen.has(n)) return;
    seen.add(n);
    rows.push({ ...n, depth });
    n.children.sort(byStart).forEach((c) => walk(c, depth + 1));
  };
  roots.sort(byStart).forEach((r) => walk(r, 0));
  return rows;
}

async function traceView(id) {
  main.replaceChildren(el("h1", {}, "Trace ", el("code", {}, id)), el("div", { class: "status" }, "Loading…"));
  let trace;
  try {
    const r = await api("/Traces", { TraceIds: [id] });
    trace = (r.Traces || [])[0];
  } catch (e) {
    main.replaceChildren(el("h1", {}, "Trace"), el("div", { class: "filter-error" }, `${e.code}: ${e.message}`));
    return;
  }
  if (!trace) {
    main.replaceChildren(el("h1", {}, "Trace ", el("code", {}, id)),
      el("div", { class: "empty", id: "not-found" }, "No trace has this ID in this account and region."));
    return;
  }
  const docs = trace.Segments.map((s) => JSON.parse(s.Document));
  const rows = entityRows(docs);
  const t0 = Math.min(...rows.map((r) => r.d.start_time ?? Infinity));
  const t1 = Math.max(...rows.map((r) => r.d.end_time ?? r.d.start_time ?? -Infinity));
  const span = Math.max(t1 - t0, 1e-6);

  const details = el("section", { id: "details", class: "details" }, el("p", { class: "hint" }, "Select a segment to see its details."));
  const list = el("div", { id: "timeline", class: "timeline", role: "listbox", "aria-label": "Segments" });
  let selected = -1;
  const select = (i) => {
    selected = i;
    list.querySelectorAll(".row.selected").forEach((r) => r.classList.remove("selected"));
    const rowEl = list.children[i];
    if (!rowEl) return;
    rowEl.classList.add("selected");
    rowEl.focus({ preventScroll: true });
    rowEl.scrollIntoView({ block: "nearest" });
    showDetails(details, rows[i], docs);
  };
  rows.forEach((r, i) => {
    const d = r.d;
    const end = d.end_time ?? t1;
    const bar = el("div", { class: `bar ${statusOf(d)}${d.in_progress ? " in-progress" : ""}` });
    bar.style.left = `${((d.start_time - t0) / span) * 100}%`;
    bar.style.width = `${Math.max(((end - d.start_time) / span) * 100, 0.3)}%`;
    const name = el("div", { class: "name" }, el("span", { class: `dot ${statusOf(d)}` }), d.name || "(unnamed)",
      d.inferred ? el("span", { class: "tag" }, "inferred") : null,
      d.in_progress ? el("span", { class: "tag" }, "in progress") : null,
      r.isSegment && !d.inferred ? el("span", { class: "tag seg" }, "segment") : null);
    name.style.paddingLeft = `${r.depth * 14 + 4}px`;
    const status = d.http?.response?.status ?? (d.fault ? "fault" : d.error ? "error" : d.throttle ? "throttle" : "");
    list.append(el("div", {
      class: `row ${statusOf(d)}`, role: "option", tabindex: "-1", "data-index": i, "data-name": d.name || "",
      onclick: () => select(i),
      onkeydown: (e) => {
        if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); select(Math.min(rows.length - 1, i + 1)); }
        if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); select(Math.max(0, i - 1)); }
      },
    }, name, el("div", { class: "code" }, status), el("div", { class: "dur" }, d.end_time ? fmtDur(d.end_time - d.start_time) : "…"),
    el("div", { class: "track" }, bar)));
  });

  const nextProblem = () => {
    for (let k = 1; k <= rows.length; k++) {
      const i = (selected + k) % rows.length;
      if (statusOf(rows[i].d) !== "ok") return select(i);
    }
  };
  const find = el("input", { id: "find", placeholder: "Find in trace", "aria-label": "Find in trace" });
  const findNext = () => {
    const text = find.value.trim().toLowerCase();
    list.querySelectorAll(".row").forEach((r) => r.classList.toggle("match", !!text && r.dataset.name.toLowerCase().includes(text)));
    if (!text) return;
    for (let k = 1; k <= rows.length; k++) {
      const i = (selected + k) % rows.length;
      if ((rows[i].d.name || "").toLowerCase().includes(text)) return select(i);
    }
  };
  find.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); findNext(); } });
  find.addEventListener("input", () => {
    const text = find.value.trim().toLowerCase();
    list.querySelectorAll(".row").forEach((r) => r.classList.toggle("match", !!text && r.dataset.name.toLowerCase().includes(text)));
  });
  const problems = rows.filter((r) => statusOf(r.d) !== "ok").length;
  const raw = el("details", { class: "raw" }, el("summary", {}, "Raw trace JSON"),
    el("pre", { id: "raw-json" }, JSON.stringify(docs, null, 2)));

  main.replaceChildren(
    el("h1", {}, "Trace ", el("code", { id: "trace-id" }, trace.Id)),
    el("div", { class: "status" }, `${rows.length} segments and subsegments · ${fmtDur(trace.Duration)} · started ${fmtTime(t0)}` +
      (trace.LimitExceeded ? " · over the size limit: later documents were refused" : "")),
    el("div", { class: "toolbar" },
      el("button", { type: "button", id: "next-problem", onclick: nextProblem, disabled: problems === 0 },
        `Next error or fault (${problems})`),
      find, el("button", { type: "button", onclick: findNext }, "Find next"),
      el("a", { href: viewUrl("/ui/map", { start: Math.floor(t0) - 60, end: Math.ceil(t1) + 60 }), "data-link": true }, "Map of this time")),
    el("div", { class: "axis" }, el("span", {}, fmtTime(t0)), el("span", {}, `+${fmtDur(span)}`)),
    el("div", { class: "split" }, list, details),
    raw);
  if (rows.length) select(0);
}

function kv(pairs) {
  const rows = pairs.filter(([, v]) => v !== undefined && v !== null && v !== "");
  if (!rows.length) return el("p", { class: "empty" }, "Nothing recorded.");
  return el("table", { class: "kv" }, rows.map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "object" ? el("pre", {}, JSON.stringify(v, null, 2)) : String(v)))));
}

function showDetails(box, row, docs) {
  const d = row.d;
  const tabs = {
    Overview: () => kv([
      ["Name", d.name], ["ID", d.id], ["Parent ID", d.parent_id], ["Kind", row.isSegment ? (d.inferred ? "inferred segment" : "segment") : "subsegment"],
      ["Start", fmtTime(d.start_time)], ["End", d.end_time ? fmtTime(d.end_time) : "in progress"],
      ["Duration", d.end_time ? fmtDur(d.end_time - d.start_time) : ""], ["Status", statusOf(d)],
      ["Origin", d.origin], ["Namespace", d.namespace], ["User", d.user], ["Service", d.service],
    ]),
    Resources: () => kv([["Resource ARN", d.resource_arn], ["AWS", d.aws]]),
    Annotations: () => kv(Object.entries(d.annotations || {})),
    Metadata: () => kv(Object.entries(d.metadata || {})),
    Exceptions: () => {
      const ex = d.cause?.exceptions || [];
      if (!ex.length) return el("p", { class: "empty" }, typeof d.cause === "string" ? `Cause: ${d.cause}` : "No exceptions.");
      return el("div", {}, ex.map((x) => el("div", { class: "exception" },
        el("div", { class: "ex-head" }, el("strong", {}, x.type || "Exception"), ": ", x.message || ""),
        el("pre", { class: "stack" }, (x.stack || []).map((f) => `at ${f.label || "?"} (${f.path || "?"}:${f.line ?? "?"})`).join("\n")))));
    },
    SQL: () => kv(Object.entries(d.sql || {})),
    Http: () => kv([["Request", d.http?.request], ["Response", d.http?.response]]),
    Raw: () => el("pre", {}, JSON.stringify(d, null, 2)),
  };
  const body = el("div", { class: "tab-body", id: "tab-body" });
  const bar = el("div", { class: "tabs", role: "tablist" });
  const open = (name) => {
    bar.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    body.replaceChildren(tabs[name]());
    box.dataset.tab = name;
  };
  for (const name of Object.keys(tabs)) {
    bar.append(el("button", { type: "button", role: "tab", "data-tab": name, onclick: () => open(name) }, name));
  }
  box.replaceChildren(el("h2", {}, d.name || "(unnamed)"), bar, body);
  open(tabs[box.dataset.tab] ? box.dataset.tab : "Overview");
}

// ---------------------------------------------------------------- service map

function health(s) {
  const st = s.SummaryStatistics || {};
  const total = st.TotalCount || 0;
  const fault = st.FaultStatistics?.TotalCount || 0;
  const throttle = st.ErrorStatistics?.ThrottleCount || 0;
  const error = (st.ErrorStatistics?.TotalCount || 0) - throttle;
  const ok = st.OkCount ?? Math.max(0, total - fault - error - throttle);
  return { total, ok, error, fault, throttle, avg: total ? (st.TotalResponseTime || 0) / total : null };
}

function layout(services) {
  // Columns by longest path from the nodes nothing calls, so calls flow left to right.
  const byRef = new Map(services.map((s) => [s.ReferenceId, s]));
  const incoming = new Map(services.map((s) => [s.ReferenceId, 0]));
  for (const s of services) for (const e of s.Edges || []) incoming.set(e.ReferenceId, (incoming.get(e.ReferenceId) || 0) + 1);
  const depth = new Map(services.map((s) => [s.ReferenceId, 0]));
  for (let pass = 0; pass < services.length; pass++) {
    let changed = false;
    for (const s of services) {
      for (const e of s.Edges || []) {
        const want = depth.get(s.ReferenceId) + 1;
        if (byRef.has(e.ReferenceId) && depth.get(e.ReferenceId) < want && want < services.length) {
          depth.set(e.ReferenceId, want);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  const columns = new Map();
  for (const s of services) {
    const c = depth.get(s.ReferenceId);
    if (!columns.has(c)) columns.set(c, []);
    columns.get(c).push(s);
  }
  const pos = new Map();
  const rowsMax = Math.max(1, ...[...columns.values()].map((c) => c.length));
  for (const [c, list] of columns) {
    list.sort((a, b) => a.Name.localeCompare(b.Name));
    const offset = (rowsMax - list.length) * 60;
    list.forEach((s, i) => pos.set(s.ReferenceId, { x: 110 + c * 240, y: 80 + offset + i * 120 }));
  }
  const width = 220 + Math.max(0, ...columns.keys()) * 240;
  return { pos, width, height: 60 + rowsMax * 120 };
}

function ring(cx, cy, r, h) {
  const parts = [["ok", h.ok], ["error", h.error], ["fault", h.fault], ["throttle", h.throttle]];
  const total = parts.reduce((a, [, n]) => a + n, 0);
  const circumference = 2 * Math.PI * r;
  const g = svg("g", { class: "ring" });
  if (!total) {
    g.append(svg("circle", { cx, cy, r, class: "arc none" }));
    return g;
  }
  let offset = 0;
  for (const [kind, n] of parts) {
    if (!n) continue;
    const len = (n / total) * circumference;
    g.append(svg("circle", {
      cx, cy, r, class: `arc ${kind}`, "stroke-dasharray": `${len} ${circumference - len}`,
      "stroke-dashoffset": `${-offset}`, transform: `rotate(-90 ${cx} ${cy})`,
    }));
    offset += len;
  }
  return g;
}

async function serviceMap(q) {
  const win = windowOf(q);
  const group = q.get("group") || "";
  const params = { group, range: win.range, start: win.range ? null : win.start, end: win.range ? null : win.end };
  const go = (change) => navigate(viewUrl("/ui/map", { ...params, ...change }));
  const panel = el("section", { id: "map-details", class: "details" }, el("p", { class: "hint" }, "Select a node or an edge."));
  main.replaceChildren(el("h1", {}, "Service map"),
    el("div", { class: "toolbar" }, rangeControls(win, go), await groupSelect(group, (g) => go({ group: g }))),
    el("div", { class: "status", id: "map-status" }, "Loading…"));
  const services = [];
  let token = null;
  try {
    do {
      const req = { StartTime: win.start, EndTime: win.end };
      if (group) req.GroupName = group;
      if (token) req.NextToken = token;
      const r = await api("/ServiceGraph", req);
      services.push(...(r.Services || []));
      token = r.NextToken;
    } while (token);
  } catch (e) {
    main.append(el("div", { class: "filter-error" }, `${e.code}: ${e.message}`));
    return;
  }
  const minutes = Math.max(1, (win.end - win.start) / 60);
  const status = document.getElementById("map-status");
  if (!services.length) {
    status.textContent = `No services from ${fmtTime(win.start)} to ${fmtTime(win.end)}.`;
    return;
  }
  status.textContent = `${services.length} nodes from ${fmtTime(win.start)} to ${fmtTime(win.end)}`;
  const { pos, width, height } = layout(services);
  const byRef = new Map(services.map((s) => [s.ReferenceId, s]));
  const map = svg("svg", { id: "map", class: "map", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "Service map" });
  map.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  map.append(edges, nodes);
  const R = 30;
  for (const s of services) {
    for (const e of s.Edges || []) {
      const a = pos.get(s.ReferenceId), b = pos.get(e.ReferenceId), target = byRef.get(e.ReferenceId);
      if (!a || !b || !target) continue;
      const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
      const x1 = a.x + (dx / len) * (R + 6), y1 = a.y + (dy / len) * (R + 6);
      const x2 = b.x - (dx / len) * (R + 8), y2 = b.y - (dy / len) * (R + 8);
      const h = health(e);
      const kind = h.fault ? "fault" : h.error ? "error" : h.throttle ? "throttle" : "ok";
      const g = svg("g", {
        class: `edge ${kind}`, tabindex: "0", "data-edge": `${s.Name}->${target.Name}`,
        onclick: () => showNode(panel, { kind: "edge", from: s, to: target, stats: e }, win, minutes),
        onkeydown: (ev) => { if (ev.key === "Enter") showNode(panel, { kind: "edge", from: s, to: target, stats: e }, win, minutes); },
      },
      svg("line", { x1, y1, x2, y2, "marker-end": "url(#arrow)" }),
      svg("line", { x1, y1, x2, y2, class: "hit" }),
      svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, class: "edge-label", text: h.avg === null ? "" : `${fmtDur(h.avg)} · ${fmtRate(h.total / minutes)}` }));
      edges.append(g);
    }
  }
  for (const s of services) {
    const p = pos.get(s.ReferenceId);
    const h = health(s);
    const g = svg("g", {
      class: `node ${s.Type === "client" ? "client" : ""}`, tabindex: "0", "data-node": s.Name, "data-type": s.Type || "",
      onclick: () => showNode(panel, { kind: "node", service: s }, win, minutes),
      onkeydown: (ev) => { if (ev.key === "Enter") showNode(panel, { kind: "node", service: s }, win, minutes); },
    },
    svg("circle", { cx: p.x, cy: p.y, r: R - 6, class: "core" }),
    ring(p.x, p.y, R, h),
    svg("text", { x: p.x, y: p.y + 4, class: "inner", text: h.avg === null ? "" : fmtDur(h.avg) }),
    svg("text", { x: p.x, y: p.y + R + 16, class: "label", text: s.Name }),
    svg("text", { x: p.x, y: p.y + R + 30, class: "sub", text: `${s.Type || ""}${h.total ? ` · ${fmtRate(h.total / minutes)}` : ""}` }));
    nodes.append(g);
  }
  main.append(el("div", { class: "split map-split" }, el("div", { class: "map-box" }, map), panel));
}

function histogram(h) {
  if (!h || !h.length) return el("p", { class: "empty" }, "No response times recorded.");
  const max = Math.max(...h.map((x) => x.Count));
  const W = 320, H = 120, bw = Math.max(4, Math.floor(W / h.length) - 2);
  const chart = svg("svg", { class: "histogram", viewBox: `0 0 ${W} ${H + 20}`, width: W, height: H + 20 });
  h.forEach((x, i) => {
    const bh = Math.max(2, (x.Count / max) * H);
    chart.append(svg("rect", { x: i * (bw + 2), y: H - bh, width: bw, height: bh, class: "bar-ok" },
      svg("title", { text: `${fmtDur(x.Value)}: ${x.Count}` })));
  });
  chart.append(svg("text", { x: 0, y: H + 15, class: "sub", text: fmtDur(h[0].Value) }),
    svg("text", { x: W, y: H + 15, class: "sub end", text: fmtDur(h[h.length - 1].Value) }));
  return chart;
}

function showNode(panel, sel, win, minutes) {
  const range = { start: win.start, end: win.end };
  if (sel.kind === "node") {
    const s = sel.service, h = health(s);
    const id = [`name: ${quote(s.Name)}`];
    if (s.Type && s.Type !== "client") id.push(`type: ${quote(s.Type)}`);
    const filter = `service(id(${id.join(", ")}))`;
    panel.replaceChildren(el("h2", {}, s.Name), kv([
      ["Type", s.Type], ["Requests", h.total], ["Per minute", fmtRate(h.total / minutes)], ["Average", fmtDur(h.avg)],
      ["OK", h.ok], ["Errors", h.error], ["Faults", h.fault], ["Throttled", h.throttle],
    ]), el("h3", {}, "Response times"), histogram(s.ResponseTimeHistogram),
    s.Type === "client" ? null : el("p", {}, el("a", { id: "node-traces", href: viewUrl("/ui/traces", { filter, ...range }), "data-link": true }, "Traces through this node")));
  } else {
    const h = health(sel.stats);
    const filter = `edge(${quote(sel.from.Name)}, ${quote(sel.to.Name)})`;
    panel.replaceChildren(el("h2", {}, `${sel.from.Name} → ${sel.to.Name}`), kv([
      ["Requests", h.total], ["Per minute", fmtRate(h.total / minutes)], ["Average", fmtDur(h.avg)],
      ["OK", h.ok], ["Errors", h.error], ["Faults", h.fault], ["Throttled", h.throttle],
    ]), el("h3", {}, "Response times"), histogram(sel.stats.ResponseTimeHistogram),
    sel.from.Type === "client" ? null : el("p", {}, el("a", { id: "edge-traces", href: viewUrl("/ui/traces", { filter, ...range }), "data-link": true }, "Traces on this edge")));
  }
}

// ---------------------------------------------------------------- routing

async function route() {
  stopRefresh();
  // `data-ready` marks a view whose data has arrived (what the browser tests wait for).
  main.removeAttribute("data-ready");
  const path = location.pathname.replace(/\/+$/, "");
  const q = new URLSearchParams(location.search);
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", path.startsWith(a.getAttribute("href"))));
  const trace = /^\/ui\/traces\/([^/]+)$/.exec(path);
  try {
    if (trace) await traceView(decodeURIComponent(trace[1]));
    else if (path === "/ui/map") await serviceMap(q);
    else if (path === "/ui" || path === "/ui/traces") await traceList(q);
    else main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, el("a", { href: "/ui/traces", "data-link": true }, "Traces")));
  } catch (e) {
    main.replaceChildren(el("h1", {}, "Something went wrong"), el("pre", { class: "filter-error" }, String(e.stack || e)));
  }
  document.title = `${trace ? "Trace" : path === "/ui/map" ? "Service map" : "Traces"} · xray-gateway`;
  main.dataset.ready = location.pathname + location.search;
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href^='/ui']");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});

document.getElementById("open-trace").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("open-trace-id");
  const id = normaliseTraceId(input.value);
  input.classList.toggle("invalid", !id);
  if (id) navigate(`/ui/traces/${id}`);
});

const utc = document.getElementById("utc");
utc.checked = useUtc();
utc.addEventListener("change", () => {
  localStorage.setItem("xray-console-utc", utc.checked ? "1" : "0");
  route();
});

window.addEventListener("popstate", route);
route();
