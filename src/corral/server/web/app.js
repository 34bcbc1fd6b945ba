// corral's dashboard: the process table, kept live by /api/v1/events (no polling), a process
// page with its log followed, a daemon page. Every value from the daemon goes into the page as
// text (textContent), never as HTML: program names and log lines are untrusted.

const token = document.querySelector('meta[name="corral-token"]').content;
// a read-only user gets no action buttons (the API would refuse the actions anyway)
const readOnly = document.querySelector('meta[name="corral-rights"]').content === "read";
if (readOnly) document.documentElement.classList.add("read-only");
const procs = new Map(); // namespec -> process info
const history = new Map(); // namespec -> recent CPU % samples
const collapsed = new Set(); // group names folded by the user
let skew = 0; // server clock - our clock, seconds
let stream = null;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const kid of kids) node.append(kid);
  return node;
};
const namespec = (p) => (p.group === p.name ? p.name : `${p.group}:${p.name}`);

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-Corral-Token"] = token;
    init.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, init);
  const doc = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(doc.error ? `${doc.error.name}: ${doc.error.message}` : `HTTP ${r.status}`);
  return doc;
}

function say(text) { $("message").textContent = text || ""; }

// -- the table ------------------------------------------------------------------------------

function uptime(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const hms = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return d ? `${d} day${d > 1 ? "s" : ""}, ${hms}` : hms;
}

function describe(p) {
  if (p.statename === "RUNNING" && p.pid) {
    return `pid ${p.pid}, uptime ${uptime(Date.now() / 1000 + skew - p.start)}`;
  }
  if (p.statename === "STARTING" && p.waiting_for) return `waiting for ${p.waiting_for}`;
  return p.description || "";
}

function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function spark(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 90 18");
  svg.setAttribute("aria-hidden", "true");
  const values = history.get(name) || [];
  if (values.length > 1) {
    const top = Math.max(5, ...values);
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    const step = 90 / (60 - 1);
    const start = 90 - step * (values.length - 1);
    line.setAttribute("points", values.map((v, i) =>
      `${(start + i * step).toFixed(1)},${(17 - (v / top) * 16).toFixed(1)}`).join(" "));
    svg.append(line);
  }
  return svg;
}

function actions(p) {
  const name = namespec(p);
  const up = ["RUNNING", "STARTING", "BACKOFF"].includes(p.statename);
  const act = (what, label) => el("button", {
    type: "button", text: label, "data-act": what, "aria-label": `${label} ${name}`,
    onclick: () => run(what, name),
  });
  const td = el("td", { class: "acts" });
  if (readOnly) { /* no actions */ }
  else if (up) td.append(act("stop", "stop"), " ", act("restart", "restart"));
  else td.append(act("start", "start"));
  td.append(" ", el("a", { href: `#/process/${encodeURIComponent(name)}`, text: "tail" }));
  return td;
}

function row(p) {
  const name = namespec(p);
  const state = el("td", {}, el("span", { class: `state s-${p.statename}`, text: p.statename }));
  if (p.ready_check && p.statename === "RUNNING") state.append(el("span", { class: "badge", text: "ready" }));
  if (p.health === "unhealthy") state.append(el("span", { class: "badge bad", text: "unhealthy" }));
  else if (p.health === "healthy") state.append(el("span", { class: "badge", text: "healthy" }));
  const cpu = p._cpu == null ? "" : `${p._cpu.toFixed(1)}%`;
  return el("tr", { "data-name": name, "data-group": p.group },
    el("td", { class: "name" }, el("a", { href: `#/process/${encodeURIComponent(name)}`, text: name })),
    state,
    el("td", { class: "desc wide", text: describe(p) }),
    el("td", { class: "num wide", text: String(p.restarts ?? 0) }),
    el("td", { class: "num", text: cpu }),
    el("td", { class: "num wide", text: bytes(p._rss) }),
    el("td", { class: "wide" }, spark(name)),
    actions(p));
}

function matches(p, needle) {
  if (!needle) return true;
  return [namespec(p), p.group, p.statename].some((s) => s.toLowerCase().includes(needle));
}

function render() {
  const needle = $("filter").value.trim().toLowerCase();
  const groups = new Map();
  for (const p of [...procs.values()].sort((a, b) => namespec(a).localeCompare(namespec(b)))) {
    if (!matches(p, needle)) continue;
    if (!groups.has(p.group)) groups.set(p.group, []);
    groups.get(p.group).push(p);
  }
  const rows = [];
  for (const [group, members] of groups) {
    if (members.length > 1 || members[0].name !== group) {
      const running = members.filter((p) => p.statename === "RUNNING").length;
      const head = el("tr", {
        class: `group${collapsed.has(group) ? " collapsed" : ""}`, tabindex: "0",
        "aria-expanded": String(!collapsed.has(group)),
      }, el("td", { colspan: "8", text: `${group} (${running} of ${members.length} running)` }));
      const toggle = () => { collapsed.has(group) ? collapsed.delete(group) : collapsed.add(group); render(); };
      head.addEventListener("click", toggle);
      head.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
      rows.push(head);
      if (collapsed.has(group)) continue;
    }
    for (const p of members) rows.push(row(p));
  }
  // keep the keyboard's place: the rows are drawn anew on every update
  const focused = document.activeElement;
  const at = focused && focused.closest ? focused.closest("tr[data-name]") : null;
  const place = at && at.parentElement === $("rows")
    ? [at.dataset.name, focused.dataset.act || (focused.tagName === "A" ? "a" : "")] : null;
  $("rows").replaceChildren(...rows);
  if (place) {
    const again = $("rows").querySelector(`tr[data-name="${CSS.escape(place[0])}"]`);
    const target = again && (place[1] === "a" ? again.querySelector("td.name a")
      : place[1] ? again.querySelector(`button[data-act="${place[1]}"]`) : null);
    if (target) target.focus();
  }
  const all = [...procs.values()];
  $("counts").textContent =
    `${all.filter((p) => p.statename === "RUNNING").length} of ${all.length} running`;
}

async function refresh(name) {
  try {
    if (name) {
      const p = await api("GET", `/api/v1/processes/${encodeURIComponent(name)}`);
      const old = procs.get(name) || {};
      procs.set(name, { ...p, _cpu: old._cpu, _rss: old._rss });
    } else {
      const doc = await api("GET", "/api/v1/processes");
      const old = new Map(procs);
      procs.clear();
      for (const p of doc.processes) {
        const prev = old.get(namespec(p)) || {};
        procs.set(namespec(p), { ...p, _cpu: prev._cpu, _rss: prev._rss });
        skew = p.now - Date.now() / 1000;
      }
    }
  } catch (e) {
    if (name) procs.delete(name); else say(String(e.message));
  }
  render();
  if (current) showProcess(current, false);
}

async function run(what, name) {
  say("");
  try {
    if (name === "*") await api("POST", `/api/v1/all/${what}`);
    else await api("POST", `/api/v1/processes/${encodeURIComponent(name)}/${what}?wait=false`);
  } catch (e) { say(`${name}: ${e.message}`); }
}

// -- live updates ---------------------------------------------------------------------------

function connect() {
  stream = new EventSource("/api/v1/events");
  stream.addEventListener("open", () => { $("conn").textContent = "live"; $("conn").className = "conn live"; });
  stream.addEventListener("error", () => { $("conn").textContent = "reconnecting"; $("conn").className = "conn down"; });
  stream.addEventListener("state", (e) => {
    const ev = JSON.parse(e.data);
    const p = procs.get(ev.name);
    if (p) { p.statename = ev.to; p.pid = ev.to === "STOPPED" || ev.to === "EXITED" ? 0 : ev.pid || p.pid; render(); }
    refresh(ev.name);
  });
  stream.addEventListener("health", (e) => refresh(JSON.parse(e.data).name));
  stream.addEventListener("group", () => refresh());
  stream.addEventListener("reset", () => refresh());
  stream.addEventListener("stats", (e) => {
    const stats = JSON.parse(e.data);
    for (const [name, [cpu, rss]] of Object.entries(stats)) {
      const p = procs.get(name);
      if (!p) continue;
      p._cpu = cpu; p._rss = rss;
      const h = history.get(name) || [];
      h.push(cpu);
      if (h.length > 60) h.shift();
      history.set(name, h);
    }
    render();
  });
}

// -- pages ----------------------------------------------------------------------------------

let current = null; // the process whose page is open
let channel = "stdout";
let follower = null;

function follow(url, pre, hint) {
  if (follower) follower.abort();
  const ctl = new AbortController();
  follower = ctl;
  pre.textContent = "";
  let paused = false;
  pre.onscroll = () => {
    paused = pre.scrollTop + pre.clientHeight < pre.scrollHeight - 4;
    if (hint) hint.textContent = paused ? "paused; scroll to the end to follow" : "following; scroll up to pause";
  };
  (async () => {
    try {
      const r = await fetch(url, { signal: ctl.signal, credentials: "same-origin" });
      if (!r.ok) { pre.textContent = r.status === 404 ? "(no log file)" : `HTTP ${r.status}`; return; }
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.append(value);
        if (pre.textContent.length > 500000) pre.textContent = pre.textContent.slice(-250000);
        if (!paused) pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) { if (e.name !== "AbortError") pre.append(`\n(${e.message})`); }
  })();
}

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
}

function showProcess(name, restartLog = true) {
  const p = procs.get(name);
  $("p-name").textContent = name;
  if (p) {
    facts($("p-facts"), [
      ["state", p.statename], ["description", describe(p)], ["pid", p.pid || "-"],
      ["restarts", p.restarts ?? 0], ["exit status", p.exitstatus],
      ["ready check", p.ready_check || "-"], ["health", p.health || "-"],
      ["depends on", (p.depends_on || []).join(", ") || "-"],
      ["stdout log", p.stdout_logfile || "-"], ["stderr log", p.stderr_logfile || "-"],
    ]);
  } else {
    facts($("p-facts"), [["state", "no such process"]]);
  }
  api("GET", `/api/v1/processes/${encodeURIComponent(name)}/exits`).then((doc) => {
    $("p-exits").replaceChildren(...doc.exits.slice().reverse().map((x) => el("li", {
      text: `${new Date(x.time * 1000).toLocaleString()}  ${x.state}  exit ${x.exitstatus}` +
        `${x.expected ? "" : " (not expected)"}${x.why ? ` - ${x.why}` : ""}`,
    })));
    if (!doc.exits.length) $("p-exits").replaceChildren(el("li", { text: "none yet" }));
  }).catch(() => $("p-exits").replaceChildren());
  if (restartLog) {
    follow(`/logtail/${encodeURIComponent(name)}/${channel}`, $("p-log"), $("p-follow"));
    api("GET", `/api/v1/processes/${encodeURIComponent(name)}/config`)
      .then((c) => facts($("p-config-list"), Object.entries(c).sort(([a], [b]) => a.localeCompare(b))))
      .catch(() => facts($("p-config-list"), []));
  }
}

async function showDaemon() {
  const d = await api("GET", "/api/v1/daemon").catch(() => ({}));
  facts($("d-facts"), [["version", d.version || "?"], ["pid", d.pid || "?"],
    ["state", d.state || "?"], ["identifier", d.identifier || "?"]]);
  follow("/mainlogtail", $("d-log"), null);
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const params = new URLSearchParams(location.search);
  let view = "list";
  current = null;
  if (hash.startsWith("/process/")) { view = "process"; current = hash.slice(9); }
  else if (hash === "/daemon") view = "daemon";
  else if (location.pathname === "/tail.html" && params.get("processname") && !hash) {
    view = "process"; current = params.get("processname"); // 4.3's bookmarked tail page
  }
  $("list-view").hidden = view !== "list";
  $("process-view").hidden = view !== "process";
  $("daemon-view").hidden = view !== "daemon";
  if (view === "list" && follower) { follower.abort(); follower = null; }
  if (view === "process") showProcess(current);
  if (view === "daemon") showDaemon();
}

// -- wiring ---------------------------------------------------------------------------------

$("filter").addEventListener("input", render);
$("restart-all").addEventListener("click", () => run("restart", "*"));
$("stop-all").addEventListener("click", () => { if (confirm("Stop every process?")) run("stop", "*"); });
$("shutdown").addEventListener("click", async () => {
  if (!confirm("Stop every process and the daemon?")) return;
  try { await api("POST", "/api/v1/daemon/shutdown"); say("shutting down"); } catch (e) { say(e.message); }
});
for (const b of document.querySelectorAll("#process-view [data-act]")) {
  b.addEventListener("click", () => current && run(b.dataset.act, current));
}
for (const b of document.querySelectorAll("[data-channel]")) {
  b.addEventListener("click", () => {
    channel = b.dataset.channel;
    for (const o of document.querySelectorAll("[data-channel]")) o.setAttribute("aria-selected", String(o === b));
    if (current) showProcess(current);
  });
}
window.addEventListener("hashchange", route);
setInterval(() => { if (!$("list-view").hidden) for (const td of document.querySelectorAll("#rows tr[data-name] td.desc")) {
  const p = procs.get(td.parentElement.dataset.name);
  if (p && p.statename === "RUNNING") td.textContent = describe(p);
} }, 1000); // the uptime clock only: no request
refresh().then(() => { connect(); route(); });
