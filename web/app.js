// Shared by the operator's and the driver's pages (web/admin, web/client): the REST client,
// the live stream, messages and a tiny DOM builder. The pages run under the API's
// Content-Security-Policy (no inline script or style): every handler is attached here and
// server data is only ever written with textContent, so a car named <img onerror=...>
// stays text. No framework, no build step: plain ES modules served by station-api.

/** Element `tag` with properties/attributes `props` and children (strings become text). */
export function el(tag, props = {}, ...children) {
  const node = tag === "svg" || props.svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "svg" || v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "onclick") node.addEventListener("click", v);
    else if (k === "className") node.setAttribute("class", v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

/** A table: header `columns` [{title, value(row)}], one row per item of `rows`. */
export function table(columns, rows, empty = "暂无数据") {
  const head = el("tr", {}, columns.map((c) => el("th", { text: c.title })));
  const body = rows.length
    ? rows.map((r) => el("tr", {}, columns.map((c) => {
      const v = c.value(r);
      return el("td", {}, v instanceof Node ? v : el("span", { text: v ?? "" }));
    })))
    : [el("tr", {}, el("td", { colspan: columns.length, className: "empty", text: empty }))];
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

/** Shows `text` in the page's message bar (`kind`: "error" or "ok"); "" hides it. */
export function say(text, kind = "error") {
  const bar = $("msg");
  bar.textContent = text || "";
  bar.className = text ? `msg ${kind}` : "msg";
  if (kind === "ok" && text) setTimeout(() => { if (bar.textContent === text) say(""); }, 4000);
}

export const money = (v) => (typeof v === "number" ? v.toFixed(2) : "");
export const kwh = (v) => (typeof v === "number" ? v.toFixed(2) : "");

export const ORDER_STATES = {
  WAITING: "等候区排队", DISPATCHED: "充电区排队", CHARGING: "充电中",
  FINISHED: "已完成", CANCELLED: "已取消", REDISPATCH: "重新调度",
};
export const PILE_STATES = { WORK: "工作中", REST: "空闲", OFF: "已关闭", FAULT: "故障" };
export const MODES = { F: "快充", T: "慢充" };

/**
 * The REST client of one page. The token is kept per page (sessionStorage `key`); every
 * answer is the envelope {code, msg, data}. A 401 ends the session: `onExpired(msg)`.
 * call() resolves to {ok, data, msg, error, status}; it never throws.
 */
export class Api {
  constructor(key, onExpired) {
    this.key = key;
    this.token = sessionStorage.getItem(key) || "";
    this.onExpired = onExpired;
  }
  remember(token) { this.token = token; sessionStorage.setItem(this.key, token); }
  forget() { this.token = ""; sessionStorage.removeItem(this.key); }
  async call(method, path, body) {
    const init = { method, headers: {} };
    if (this.token) init.headers.token = this.token;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    let json;
    try {
      res = await fetch(path, init);
      json = await res.json();
    } catch {
      return { ok: false, data: null, msg: "无法连接服务器，请检查网络后重试", status: 0 };
    }
    const ok = json.code === 0 || json.code === 200 || json.code === "0";
    const out = { ok, data: json.data, msg: json.msg || "", error: json.error, status: res.status };
    if (res.status === 401 && this.token) {
      this.forget();
      this.onExpired(json.msg || "登录已失效，请重新登录");
    }
    return out;
  }
}

/**
 * The page's live stream (GET /{role}/index/live): a single-use ticket is taken with the
 * token, then an EventSource receives `eventName` events (the envelope; `onData` gets its
 * data). On an error (the server restarted, the network dropped) the stream is reopened
 * with a fresh ticket after a pause of 1 s that doubles up to 5 s, less a random part of up
 * to half (many pages do not come back in step); until an event arrives again the state
 * stays "reconnecting". An `expired` event (or a 401 for the ticket) ends the session.
 * `onStatus(text, state)` shows the connection's state: "wait" (first connection), "off"
 * (reconnecting or stopped), "on". Returns {stop}.
 */
export function live(api, role, eventName, onData, onStatus) {
  let source = null;
  let stopped = false;
  let pause = 1000;
  let timer = null;
  let lost = false;
  async function open() {
    if (stopped) return;
    if (!lost) onStatus("连接中…", "wait");
    const t = await api.call("POST", `/${role}/index/live/ticket`);
    if (stopped) return;
    if (!t.ok) {
      if (t.status !== 401) retry();
      return;
    }
    source = new EventSource(`/${role}/index/live?ticket=${encodeURIComponent(t.data.ticket)}`);
    source.addEventListener(eventName, (e) => {
      pause = 1000;
      lost = false;
      onStatus("实时", "on");
      let env;
      try { env = JSON.parse(e.data); } catch { return; }
      onData(env.data);
    });
    source.addEventListener("expired", (e) => {
      stop();
      let msg = "登录已过期，请重新登录";
      try { msg = JSON.parse(e.data).msg || msg; } catch { /* keep the default */ }
      api.forget();
      api.onExpired(msg);
    });
    source.addEventListener("error", () => {
      if (stopped) return;
      source.close();
      source = null;
      retry();
    });
  }
  function retry() {
    lost = true;
    onStatus("已断开，重连中…", "off");
    clearTimeout(timer);
    timer = setTimeout(open, pause * (0.5 + Math.random() / 2));
    pause = Math.min(pause * 2, 5000);
  }
  function stop() {
    stopped = true;
    clearTimeout(timer);
    if (source) source.close();
    source = null;
    onStatus("未连接", "off");
  }
  open();
  return { stop };
}

/** Shows the live connection's state in #live. */
export function liveStatus(text, state) {
  const badge = $("live");
  badge.textContent = text;
  badge.className = `badge live-${state}`;
}

/** Shows one of the page's views (the others are hidden). */
export function show(view) {
  for (const v of document.querySelectorAll("[data-view]")) v.hidden = v.dataset.view !== view;
}

/** The value of input `id`, trimmed. */
export const field = (id) => $(id).value.trim();

/** Runs `handler` on submit of form `id` (no page reload). */
export function onSubmit(id, handler) {
  $(id).addEventListener("submit", (e) => { e.preventDefault(); handler(); });
}
