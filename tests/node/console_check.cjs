// Drives the console in Debian's headless Chromium through playwright-core (never a downloaded
// browser). Usage: node console_check.cjs <gateway-url> <seed.json> <screenshot-dir>
// seed.json names what the Python side stored through boto3. Prints one JSON line of findings;
// exits 1 with the failures listed.
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const [url, seedFile, shots] = process.argv.slice(2);
const seed = JSON.parse(fs.readFileSync(seedFile, "utf8"));
const origin = new URL(url).origin;
const failures = [];
const findings = {};

function check(cond, what) {
  if (!cond) failures.push(what);
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const outside = [];
  const errors = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("data:")) outside.push(u);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  // A view is settled once its data has arrived: the console marks <main data-ready>.
  const settled = () => page.waitForSelector("main[data-ready]");
  page.on("console", (m) => {
    // A refused API call (an invalid filter) is logged by the browser itself; that is expected.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });

  // The list, from the root redirect, with the default window.
  await page.goto(url + "/");
  check(new URL(page.url()).pathname === "/ui", `/ redirects to /ui, got ${page.url()}`);
  await settled();
  const listed = await page.$$eval("#traces tbody tr", (rows) => rows.map((r) => r.dataset.traceId));
  for (const id of seed.all) check(listed.includes(id), `the list shows ${id}`);
  const first = await page.$$eval("#traces tbody tr:first-child td", (tds) => tds.map((t) => t.textContent));
  check(first.length === 9, "nine columns");
  findings.listed = listed.length;
  await page.screenshot({ path: path.join(shots, "list.png"), fullPage: true });

  // Keyboard: arrow keys move along the rows, Enter opens one.
  await page.focus("#traces tbody tr:first-child");
  await page.keyboard.press("ArrowDown");
  const focused = await page.evaluate(() => document.activeElement?.dataset?.traceId);
  check(focused === listed[1], "ArrowDown moves to the second row");

  // A matching filter.
  await page.fill("#filter", seed.match.filter);
  await page.click(".filter button[type=submit]");
  await settled();
  check(new URLSearchParams(new URL(page.url()).search).get("filter") === seed.match.filter, "the filter is in the URL");
  const matched = await page.$$eval("#traces tbody tr", (rows) => rows.map((r) => r.dataset.traceId));
  check(JSON.stringify(matched.sort()) === JSON.stringify([...seed.match.ids].sort()),
    `filter ${seed.match.filter} lists ${seed.match.ids}, got ${matched}`);

  // One that matches nothing.
  await page.fill("#filter", 'annotation.tier = "nobody"');
  await page.press("#filter", "Enter");
  await settled();
  check(/^0 traces/.test(await page.textContent("#list-status")), "the status says 0 traces");
  check((await page.$$("#traces tbody tr")).length === 0, "a filter matching nothing lists nothing");

  // An invalid one: X-Ray's message and the position marked.
  await page.fill("#filter", "responsetime >");
  await page.press("#filter", "Enter");
  await settled();
  await page.waitForSelector("#filter-error:not([hidden])");
  const problem = await page.textContent("#filter-error");
  check(/expected a value after '>'/.test(problem), `the filter error says what is wrong: ${problem}`);
  const caret = await page.textContent("#filter-error pre.caret");
  check(caret && caret.split("\n")[1].indexOf("^") === 14, `the caret marks position 14: ${JSON.stringify(caret)}`);
  check(await page.$eval("#filter", (i) => i.classList.contains("invalid")), "the box is marked invalid");
  await page.screenshot({ path: path.join(shots, "filter-error.png"), fullPage: true });

  // The trace view of the faulty trace, from a deep link.
  await page.goto(`${url}/ui/traces/${seed.fault.id}`);
  await settled();
  const names = await page.$$eval("#timeline .row", (rows) => rows.map((r) => r.dataset.name));
  check(JSON.stringify(names) === JSON.stringify(seed.fault.rows), `timeline rows ${names} != ${seed.fault.rows}`);
  check((await page.$$("#timeline .row .tag")).length > 0, "inferred and segment tags shown");
  check(await page.$eval("#timeline", (t) => t.textContent.includes("inferred")), "the inferred segment is marked");
  await page.click("#next-problem");
  const sel = await page.$eval("#timeline .row.selected", (r) => r.dataset.name);
  check(sel === seed.fault.firstProblem, `next error or fault selects ${seed.fault.firstProblem}, got ${sel}`);
  await page.click(".tabs button[data-tab=Exceptions]");
  check((await page.textContent("#tab-body")).includes(seed.fault.exception), "the Exceptions tab shows the message");
  await page.click(`#timeline .row[data-name="${seed.fault.root}"]`);
  await page.click(".tabs button[data-tab=Http]");
  check((await page.textContent("#tab-body")).includes(String(seed.fault.status)), "the Http tab shows the status");
  await page.click(".tabs button[data-tab=Annotations]");
  check((await page.textContent("#tab-body")).includes(seed.fault.annotation), "the Annotations tab");
  await page.click(".tabs button[data-tab=Overview]");
  check((await page.textContent("#tab-body")).includes(seed.fault.root), "the Overview tab");
  await page.click(`#timeline .row[data-name="${seed.fault.sql}"]`);
  await page.click(".tabs button[data-tab=SQL]");
  check((await page.textContent("#tab-body")).includes("SELECT"), "the SQL tab shows the query");
  await page.fill("#find", seed.fault.sql);
  check((await page.$$("#timeline .row.match")).length === 1, "find marks the matching row");
  check((await page.textContent("#raw-json")).includes(seed.fault.id), "the raw JSON is there");
  await page.screenshot({ path: path.join(shots, "trace.png"), fullPage: true });

  // Opening by ID in W3C form.
  await page.fill("#open-trace-id", seed.fault.id.slice(2).replace("-", ""));
  await page.press("#open-trace-id", "Enter");
  await settled();
  check(new URL(page.url()).pathname === `/ui/traces/${seed.fault.id}`, "a W3C ID opens its trace");

  // A large trace opens and scrolls.
  const began = Date.now();
  await page.goto(`${url}/ui/traces/${seed.large.id}`);
  await settled();
  check((await page.$$("#timeline .row")).length === seed.large.rows, "every row of the large trace");
  findings.large_trace_ms = Date.now() - began;
  const scrolled = await page.evaluate(async () => {
    const t = document.getElementById("timeline");
    const start = performance.now();
    for (let i = 0; i <= 40; i++) {
      t.scrollTop = (t.scrollHeight * i) / 40;
      await new Promise((r) => requestAnimationFrame(r));
    }
    return { ms: performance.now() - start, atEnd: t.scrollTop + t.clientHeight >= t.scrollHeight - 2 };
  });
  findings.large_trace_scroll_ms = Math.round(scrolled.ms);
  check(scrolled.atEnd, "the large trace scrolls to its end");
  check(findings.large_trace_ms < 10000, `the large trace opens within 10 s (${findings.large_trace_ms} ms)`);

  // The map, a node, its histogram and its traces.
  await page.goto(`${url}/ui/map?range=1h`);
  await settled();
  const nodes = await page.$$eval("#map .node", (ns) => ns.map((n) => n.dataset.node));
  for (const n of seed.map.nodes) check(nodes.includes(n), `the map has ${n}`);
  check((await page.$$("#map .edge")).length >= seed.map.edges, "the map has the edges");
  check((await page.$$("#map .arc.fault")).length > 0, "a health ring shows faults");
  await page.click(`#map .node[data-node="${seed.map.service}"]`);
  await page.waitForSelector("#map-details svg.histogram rect");
  await page.screenshot({ path: path.join(shots, "map.png"), fullPage: true });
  await page.click("#node-traces");
  await settled();
  const filter = await page.$eval("#filter", (i) => i.value);
  check(filter.startsWith(`service(id(name: "${seed.map.service}"`), `the node links to its traces: ${filter}`);
  const through = await page.$$eval("#traces tbody tr", (rows) => rows.map((r) => r.dataset.traceId));
  check(through.length === seed.map.serviceTraces, `the node's traces: ${through.length} != ${seed.map.serviceTraces}`);
  await page.goto(`${url}/ui/map?range=1h`);
  await settled();
  await page.click(`#map .edge[data-edge="${seed.map.edge}"] line.hit`, { force: true });
  await page.click("#edge-traces");
  await settled();
  check((await page.$eval("#filter", (i) => i.value)).startsWith("edge("), "the edge links to its traces");

  // UTC toggle persists and a shared link keeps its view.
  await page.goto(`${url}/ui/traces?filter=${encodeURIComponent(seed.match.filter)}&range=15m`);
  await settled();
  check((await page.$eval("#filter", (i) => i.value)) === seed.match.filter, "a shared link restores the filter");
  check(await page.$eval("button[data-range='15m']", (b) => b.classList.contains("active")), "and the range");
  await page.check("#utc");
  await settled();
  check(/Z/.test(await page.textContent("#list-status")), "UTC times end in Z");

  check(outside.length === 0, `requests left the gateway: ${outside}`);
  check(errors.length === 0, `page errors: ${errors}`);
  await browser.close();
}

main()
  .catch((e) => failures.push(`crashed: ${e.stack || e}`))
  .finally(() => {
    console.log(JSON.stringify({ failures, findings }));
    process.exit(failures.length ? 1 : 0);
  });
