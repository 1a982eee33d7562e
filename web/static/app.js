"use strict";
// The operator page. The admin API's bearer token is kept in sessionStorage; the
// live state comes from /api/stream, server-sent events read with fetch(), since
// EventSource cannot send an Authorization header; every control is a POST to
// /api (web/app.py), its result or error shown in the status line.

const TOKEN_KEY = "fixserver.token";
const HISTORY_SECONDS = 300;   // what the charts show
const MIN_SPAN = 10;           // seconds: the charts' shortest x axis
const STALE_MS = 5000;         // no event for this long (the server sends one a
                               // second): the stream is dead, reconnect
const MAX_BACKOFF_MS = 30000;

const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY);
let generation = 0;            // bumped at each sign-in and sign-out: a stream loop
                               // of an older one stops
let streamAbort = null;        // the AbortController of the open stream
let history = [];              // one point per update: {at, p50, p99, orders, trades}

// -- helpers ----------------------------------------------------------------------------

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

// A decimal string with at least `places` decimals and thousands separators:
// the API writes prices and money without trailing zeros ("190", "190.5").
function decimal(text, places = 2) {
  const [whole, frac = ""] = String(text).split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${digits}.${frac.padEnd(places, "0")}`;
}

const int = (n) => Number(n).toLocaleString("en-US");
const clock = (epochSeconds) => new Date(epochSeconds * 1000).toISOString().slice(11, 19);

// Replaces an element's content only when it changed, so that a button under the
// pointer is not swapped for a copy between press and release every second.
function setHTML(el, html) {
  if (el._html !== html) {
    el.innerHTML = html;
    el._html = html;
  }
}

function status(text, error = false) {
  const el = $("status");
  el.textContent = `${new Date().toISOString().slice(11, 19)}  ${text}`;
  el.classList.toggle("error", error);
}

function setConnection(state, text) {
  const el = $("conn");
  el.className = `conn conn-${state}`;
  el.textContent = text;
}

// -- the API ----------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await res.json().catch(() => null);
  const reason = (data && data.error) || `HTTP ${res.status} ${res.statusText}`;
  if (res.status === 401) {
    signOut(reason);
    throw new Unauthorized(reason);
  }
  if (!res.ok) throw new Error(reason);
  return data;
}

// What a control answered, in a few words.
function summary(r) {
  if (!r) return "done";
  if (r.command === "phase") {
    return `now ${r.phase}; changed: ${r.changed.length ? r.changed.join(", ") : "none"}`;
  }
  if (r.command === "kill" || r.command === "lift") {
    const cancelled = r.cancelled !== undefined ? `; ${r.cancelled} open orders cancelled` : "";
    return `done (it was ${r.was_on ? "on" : "off"})${cancelled}`;
  }
  if (r.reason) return `logged out: ${r.reason}`;
  return Object.entries(r).filter(([k]) => k !== "ok")
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
}

async function control(label, method, path, body, button) {
  if (button) button.disabled = true;
  status(`${label} ...`);
  try {
    status(`${label}: ${summary(await api(method, path, body))}`);
  } catch (e) {
    if (!(e instanceof Unauthorized)) status(`${label} failed: ${e.message}`, true);
  } finally {
    if (button) button.disabled = false;
  }
}

// -- signing in and out -----------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const given = $("login-token").value.trim();
  $("login-error").textContent = "";
  // The token is tried on a small authenticated route before it is kept.
  let res;
  try {
    res = await fetch("/api/sessions", {headers: {"Authorization": `Bearer ${given}`},
                                        cache: "no-store"});
  } catch (e) {
    $("login-error").textContent = `the server does not answer: ${e.message}`;
    return;
  }
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    $("login-error").textContent = (data && data.error) || `HTTP ${res.status}`;
    return;
  }
  token = given;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login-token").value = "";
  start();
}

function start() {
  $("login").hidden = true;
  $("dash").hidden = false;
  $("logout").hidden = false;
  run(++generation);
}

function signOut(reason) {
  generation++;
  if (streamAbort) streamAbort.abort();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearData();
  $("dash").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = reason || "";
  $("updated").textContent = "";
  setConnection("off", "signed out");
}

// Nothing of a previous sign-in stays on the page.
function clearData() {
  history = [];
  for (const el of document.querySelectorAll("#dash tbody, #books, #killed, #alerts-active, #rates")) {
    el.innerHTML = "";
    el._html = undefined;
  }
  bookCards.clear();
}

// -- the stream -------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Reads the stream until signed out; after a drop, tries again in 1 s, 2 s, 4 s ...
// up to MAX_BACKOFF_MS (back to 1 s once events flow again).
async function run(gen) {
  let delay = 1000;
  while (gen === generation) {
    setConnection("wait", "connecting");
    let reason = "the stream ended";
    try {
      await readStream(gen, () => { delay = 1000; });
    } catch (e) {
      if (e instanceof Unauthorized) return;
      reason = e.message;
    }
    if (gen !== generation) return;
    for (let left = delay; left > 0 && gen === generation; left -= 1000) {
      setConnection("down", `reconnecting in ${Math.ceil(left / 1000)} s: ${reason}`);
      await sleep(Math.min(1000, left));
    }
    delay = Math.min(delay * 2, MAX_BACKOFF_MS);
  }
}

async function readStream(gen, onEvent) {
  const ctrl = new AbortController();
  streamAbort = ctrl;
  let stale = false;
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { stale = true; ctrl.abort(); }, STALE_MS);
  };
  arm();
  try {
    const res = await fetch("/api/stream", {headers: {"Authorization": `Bearer ${token}`},
                                            signal: ctrl.signal, cache: "no-store"});
    if (res.status === 401) {
      const data = await res.json().catch(() => null);
      const reason = (data && data.error) || "unauthorized";
      signOut(reason);
      throw new Unauthorized(reason);
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      // Events end at a blank line; the spec allows \r\n and \r as line ends too.
      buffer = (buffer + value).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event.type === "state" && gen === generation) {
          arm();
          onEvent();
          setConnection("live", "live");
          render(JSON.parse(event.data));
        }
      }
    }
  } catch (e) {
    if (stale) throw new Error(`no update for ${STALE_MS / 1000} s`);
    throw e;
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
}

// One server-sent event's lines: "event: NAME", "data: ..." (several are joined
// with newlines), ": comment"; other fields (id, retry) are not used here.
function parseEvent(text) {
  const event = {type: "message", data: ""};
  const data = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event.type = value;
    else if (field === "data") data.push(value);
  }
  event.data = data.join("\n");
  return event;
}

// -- rendering --------------------------------------------------------------------------

function render(s) {
  $("updated").textContent = `${clock(s.at)} UTC · seq ${int(s.last_seq)}`;
  renderBooks(s.books, s.resting);
  renderTrades(s.trades);
  renderSessions(s.sessions);
  renderAlerts(s.alerts);
  renderAccounts(s.accounts);
  renderKilled(s.killed);
  renderConsumers(s.consumers);
  const r = s.rates;
  setHTML($("rates"), `orders/s <b>${r.orders_per_s}</b> · trades/s <b>${r.trades_per_s}</b>`
    + ` · messages/s <b>${r.messages_per_s}</b>`);
  const e2e = r.latency_us.end_to_end;
  history.push({at: s.at, p50: e2e ? e2e.p50 : null, p99: e2e ? e2e.p99 : null,
                orders: r.orders_per_s, trades: r.trades_per_s});
  while (history.length && history[0].at < s.at - HISTORY_SECONDS) history.shift();
  drawCharts();
}

const PHASE_TEXT = (phase) => phase.replace(/_/g, " ").toUpperCase();

// One card per symbol, made once (its buttons stay put); its parts updated.
const bookCards = new Map();

function bookCard(symbol) {
  let card = bookCards.get(symbol);
  if (card) return card;
  const el = document.createElement("div");
  el.className = "book";
  el.dataset.testid = "book-" + symbol;
  el.innerHTML = `
    <div class="book-head">
      <span class="sym">${esc(symbol)}</span>
      <span class="phase" data-testid="phase-${esc(symbol)}"></span>
      <span class="resting"></span>
      <button type="button" class="warn" data-action="phase" data-target="${esc(symbol)}"
              data-op="halt" data-testid="halt-${esc(symbol)}">Halt</button>
      <button type="button" data-action="phase" data-target="${esc(symbol)}"
              data-op="resume" data-testid="resume-${esc(symbol)}">Resume</button>
    </div>
    <table class="num ladder">
      <thead><tr><th>Orders</th><th>Bid qty</th><th>Bid</th>
                 <th>Ask</th><th>Ask qty</th><th>Orders</th></tr></thead>
      <tbody></tbody>
    </table>`;
  $("books").appendChild(el);
  card = {el, phase: el.querySelector(".phase"), resting: el.querySelector(".resting"),
          halt: el.querySelector("[data-op=halt]"), resume: el.querySelector("[data-op=resume]"),
          body: el.querySelector("tbody")};
  bookCards.set(symbol, card);
  return card;
}

function renderBooks(books, resting) {
  for (const b of books) {
    const card = bookCard(b.symbol);
    const halted = b.phase === "halted";
    card.phase.textContent = PHASE_TEXT(b.phase);
    card.phase.dataset.phase = b.phase;
    card.halt.hidden = halted;
    card.resume.hidden = !halted;
    card.el.classList.toggle("halted", halted);
    const n = resting[b.symbol] ?? 0;
    card.resting.textContent = `${int(n)} resting`;
    const rows = [];
    const depth = Math.max(b.bids.length, b.asks.length);
    const cells = (lv, side) => lv
      ? (side === "b"
        ? `<td class="b-orders">${lv.orders}</td><td class="b-qty">${int(lv.qty)}</td><td class="b-px bid">${decimal(lv.price)}</td>`
        : `<td class="a-px ask">${decimal(lv.price)}</td><td class="a-qty">${int(lv.qty)}</td><td class="a-orders">${lv.orders}</td>`)
      : "<td></td><td></td><td></td>";
    for (let i = 0; i < depth; i++) {
      rows.push(`<tr data-testid="level-${esc(b.symbol)}-${i}">${cells(b.bids[i], "b")}${cells(b.asks[i], "a")}</tr>`);
    }
    setHTML(card.body, rows.join("") || '<tr class="empty"><td colspan="6">empty book</td></tr>');
  }
}

function renderTrades(trades) {
  setHTML($("trades"), trades.map((t) => `
    <tr><td>${esc(t.time.slice(11, 23))}</td><td class="text">${esc(t.symbol)}</td>
      <td class="text ${t.aggressor === "BUY" ? "bid" : "ask"}">${esc(t.aggressor)}${t.auction ? " (auction)" : ""}</td>
      <td>${int(t.qty)}</td><td>${decimal(t.price)}</td><td>${t.trade_id}</td></tr>`).join("")
    || '<tr class="empty"><td colspan="6">no trades yet</td></tr>');
}

function renderSessions(sessions) {
  setHTML($("sessions"), sessions.map((s) => {
    const connected = s.state !== "disconnected";
    const id = esc(s.session);
    return `<tr data-testid="session-row-${id}" class="${s.logged_on ? "" : "muted"}">
      <td class="text">${id}</td><td class="text">${esc(s.application)}</td>
      <td class="text"><span class="state state-${esc(s.state)}" data-testid="session-state-${id}">${esc(s.state.replace(/_/g, " "))}</span></td>
      <td class="text">${esc(s.peer || "")}</td><td>${esc((s.logon_time || "").replace("T", " ").replace("Z", ""))}</td>
      <td>${s.next_sender_seq}</td><td>${s.next_target_seq}</td><td>${int(s.messages_received)}</td>
      <td>${s.rejects_sent}</td><td>${s.queued}</td>
      <td>${connected ? `<button type="button" class="warn small" data-action="disconnect" data-session="${id}" data-testid="disconnect-${id}">Disconnect</button>` : ""}</td>
    </tr>`;
  }).join(""));
}

function renderAlerts(alerts) {
  setHTML($("alerts-active"), alerts.active.map((a) => `
    <div class="alert" data-testid="alert-${esc(a.alert)}"><b>${esc(a.alert)}</b>
      <span class="since">since ${clock(a.since)}</span><div>${esc(a.text || `${a.value} over ${a.limit}`)}</div></div>`).join("")
    || '<div class="all-clear">no active alerts</div>');
  setHTML($("alerts-recent"), alerts.recent.slice(0, 20).map((t) => `
    <tr class="${t.firing ? "firing" : "cleared"}"><td class="num">${clock(t.at)}</td><td>${esc(t.alert)}</td>
      <td>${t.firing ? "FIRING" : "cleared"}</td><td>${esc(t.text)}</td></tr>`).join("")
    || '<tr class="empty"><td>none yet</td></tr>');
}

function renderAccounts(accounts) {
  setHTML($("accounts"), accounts.map((a) => `
    <tr data-testid="account-${esc(a.name)}"><td class="text">${esc(a.name)}</td><td class="text">${esc(a.firm)}</td>
      <td>${decimal(a.cash)}</td><td>${decimal(a.reserved)}</td><td>${decimal(a.buying_power)}</td>
      <td>${a.open_orders}</td>
      <td class="text positions">${Object.entries(a.positions).map(([sym, q]) =>
        `<span>${esc(sym)} <span class="num">${int(q)}</span></span>`).join("")}</td></tr>`).join(""));
}

function renderKilled(killed) {
  const on = Object.entries(killed).flatMap(([scope, names]) => names.map((n) => [scope, n]));
  setHTML($("killed"), on.map(([scope, name]) => `
    <li data-testid="killed-${esc(scope)}-${esc(name)}"><span class="scope">${esc(scope)}</span> ${esc(name)}
      <button type="button" class="small" data-action="lift" data-scope="${esc(scope)}" data-name="${esc(name)}">lift</button></li>`).join("")
    || '<li class="empty">no kill switch is on</li>');
}

function renderConsumers(consumers) {
  setHTML($("consumers"), consumers.map((c) => `
    <tr class="${c.lag ? "lagging" : ""}"><td class="text">${esc(c.name)}</td><td>${int(c.lag)}</td>
      <td>${c.lag_seconds.toFixed(3)}</td></tr>`).join("")
    || '<tr class="empty"><td colspan="3">no consumers</td></tr>');
}

// -- charts -----------------------------------------------------------------------------

function drawCharts() {
  drawChart($("chart-latency"), [
    {label: "p50", color: "#2f7de1", key: "p50"},
    {label: "p99", color: "#e0663a", key: "p99"},
  ], " µs");
  drawChart($("chart-rates"), [
    {label: "orders/s", color: "#2f7de1", key: "orders"},
    {label: "trades/s", color: "#23a26d", key: "trades", dash: [5, 3]},
  ], "");
}

// A round number at or above `v`, for the top of the y axis: 1, 2 or 5 times 10^n.
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= v);
}

// Lines of `series` over the last HISTORY_SECONDS of `history` (a null value is a
// gap), with a grid, the y scale and a legend showing the latest values.
function drawChart(canvas, series, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 46, right = 8, top = 22, bottom = 18;
  const pw = w - left - right, ph = h - top - bottom;
  // The x axis spans the history there is (at least MIN_SPAN s), up to HISTORY_SECONDS.
  const end = history.length ? history[history.length - 1].at : Date.now() / 1000;
  const span = Math.min(HISTORY_SECONDS, Math.max(MIN_SPAN, end - (history.length ? history[0].at : end)));
  const start = end - span;
  const max = niceCeil(Math.max(0, ...history.flatMap((p) => series.map((s) => p[s.key] ?? 0))));
  const x = (at) => left + ((at - start) / span) * pw;
  const y = (v) => top + ph - (v / max) * ph;

  g.font = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
  g.lineWidth = 1;
  g.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {           // the grid and the y scale
    const v = (max * i) / 4, yy = Math.round(y(v)) + 0.5;
    g.strokeStyle = i ? "#e6e9ee" : "#b8c0cc";
    g.beginPath(); g.moveTo(left, yy); g.lineTo(left + pw, yy); g.stroke();
    g.fillStyle = "#6b7684";
    g.textAlign = "right";
    g.fillText(v >= 1000 ? int(v) : String(+v.toFixed(2)), left - 6, yy);
  }
  g.textAlign = "left";
  g.fillText(span >= HISTORY_SECONDS ? "-5 min" : `-${Math.round(span)} s`, left, h - 8);
  g.textAlign = "right";
  g.fillText("now", left + pw, h - 8);

  let lx = left;                           // the legend, with the latest values
  for (const s of series) {
    g.lineWidth = 2;
    g.strokeStyle = s.color;
    g.setLineDash(s.dash || []);           // dashed: still seen where the lines meet
    g.beginPath();
    const value = (i) => (i >= 0 && i < history.length ? history[i][s.key] ?? null : null);
    for (let i = 0; i < history.length; i++) {
      const v = value(i);
      if (v === null) continue;
      if (value(i - 1) !== null) g.lineTo(x(history[i].at), y(v));
      else g.moveTo(x(history[i].at), y(v));
    }
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = s.color;                 // a point with no neighbour: a dot
    for (let i = 0; i < history.length; i++) {
      const v = value(i);
      if (v !== null && value(i - 1) === null && value(i + 1) === null) {
        g.fillRect(x(history[i].at) - 2, y(v) - 2, 4, 4);
      }
    }
    const latest = history.length ? history[history.length - 1][s.key] : null;
    const text = `${s.label} ${latest === null || latest === undefined ? "–" : latest + unit}`;
    g.fillStyle = s.color;
    g.fillRect(lx, 7, 10, 3);
    g.fillStyle = "#2b3340";
    g.textAlign = "left";
    g.fillText(text, lx + 14, 9);
    lx += g.measureText(text).width + 30;
  }
}

// -- controls ---------------------------------------------------------------------------

// One listener for every button made from data: data-action says what it does.
document.addEventListener("click", (event) => {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const d = b.dataset;
  if (d.action === "phase") {
    control(`${d.op} ${d.target}`, "POST",
            `/api/phases/${encodeURIComponent(d.target)}/${d.op}`, undefined, b);
  } else if (d.action === "disconnect") {
    const reason = $("disconnect-reason").value.trim();
    control(`disconnect ${d.session}`, "POST",
            `/api/sessions/${encodeURIComponent(d.session)}/disconnect`, {reason}, b);
  } else if (d.action === "lift") {
    control(`lift ${d.scope} ${d.name}`, "POST",
            `/api/killswitches/${d.scope}/${encodeURIComponent(d.name)}`, {on: false}, b);
  }
});

$("kill-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const on = event.submitter ? event.submitter.dataset.on === "true" : true;
  const scope = $("kill-scope").value, name = $("kill-name").value.trim();
  control(`${on ? "kill" : "lift"} ${scope} ${name}`, "POST",
          `/api/killswitches/${scope}/${encodeURIComponent(name)}`, {on}, event.submitter);
});

$("login-form").addEventListener("submit", signIn);
$("logout").addEventListener("click", () => signOut(""));
window.addEventListener("resize", drawCharts);

if (token) start(); else $("login-token").focus();
