// The operator's page (GET /admin/index): the live station (piles with their cars, energy
// and fees so far, totals; the waiting area; re-dispatch groups), a switch per pile and
// all-on/all-off, reports per pile by day, ISO week or month with a chart and a CSV file,
// and in simulation the clock (time, speed, steps) and fault injection. Live data:
// GET /admin/index/live.
import { $, Api, el, field, kwh, live, liveStatus, MODES, money, onSubmit, ORDER_STATES, PILE_STATES, say, show, table } from "./app.js";
import { barChart } from "./chart.js";

const api = new Api("admin_token", (msg) => { stream?.stop(); stream = null; show("login"); say(msg); });
let stream = null;
let station = { charge_array: [], wait_array: [], redispatch_array: [] };
let report = [];

const carColumns = [
  { title: "排队号", value: (c) => c.number },
  { title: "车辆", value: (c) => c.name },
  { title: "状态", value: (c) => ORDER_STATES[c.state] || c.state },
  { title: "已充 / 申请 (kWh)", value: (c) => `${kwh(c.charged_kwh)} / ${kwh(c.apply_kwh)}` },
  { title: "费用（元）", value: (c) => money(c.fee) },
  { title: "等待 (h)", value: (c) => c.wait_time },
];

async function enter() {
  const m = await api.call("GET", "/admin/index/manage");
  if (!m.ok) {
    if (m.status !== 401) { show("login"); say(m.msg); }
    return;
  }
  show("main");
  render(m.data);
  clock();
  if (!$("report-date").value && m.data.time) $("report-date").value = m.data.time.slice(0, 10);
  stream?.stop();
  stream = live(api, "admin", "station", render, liveStatus);
}

async function login() {
  const r = await api.call("POST", "/admin/login", { account: field("account"), password: $("password").value });
  if (!r.ok) return say(r.msg);
  api.remember(r.data.token);
  say("");
  enter();
}

function render(d) {
  station = d;
  if (clockAt && d.time && parseTime(d.time) > stationNow()) setClock(d.time, clockAt.speed);  // moved by someone else
  else if (!clockAt) $("station-time").textContent = d.time || "—";
  const sum = (k) => d.charge_array.reduce((a, p) => a + (p[k] || 0), 0);
  $("totals").textContent = `累计充电 ${sum("total_charge_times")} 次，${kwh(sum("total_charge"))} kWh，总费用 ${money(sum("total_fee"))} 元`;
  $("piles").replaceChildren(...d.charge_array.map((p) => el("article", { className: `pile pile-${p.state}`, "data-pile": p.id },
    el("div", { className: "pile-head" },
      el("strong", { text: `${p.id} ${p.name && p.name !== p.id ? p.name : ""}` }),
      el("span", { className: "mode", text: `${MODES[p.mode] || p.mode} ${p.power} kW` }),
      el("span", { className: `state state-${p.state}`, text: PILE_STATES[p.state] || p.state }),
      el("button", {
        type: "button", className: `switch small ${p.state === "OFF" ? "" : "danger"}`,
        disabled: p.state === "FAULT", text: p.state === "OFF" ? "开启" : "关闭",
        onclick: () => switchPiles(p.state === "OFF" ? "SWITCHON" : "SWITCHOFF", [p.id]),
      }),
      el("button", { type: "button", className: "reset small", text: "重启", onclick: () => resetPile(p.id) })),
    el("p", { className: "note", text: `累计 ${p.total_charge_times} 次，${kwh(p.total_charge)} kWh，${money(p.total_fee)} 元` }),
    table(carColumns, p.car_blocks, "空闲"))));
  $("waiting").replaceChildren(table([...carColumns.slice(0, 2),
    { title: "模式", value: (c) => MODES[c.number?.[0]] || "" }, ...carColumns.slice(3)], d.wait_array, "等候区无车辆"));
  $("redispatch").replaceChildren(table(carColumns, d.redispatch_array, "无重新调度的车辆"));
  const select = $("fault-pile");
  const chosen = select.value;
  select.replaceChildren(...d.charge_array.map((p) => el("option", { value: p.id, text: p.id })));
  if (chosen) select.value = chosen;
}

async function switchPiles(mode, ids) {
  if (!ids.length) return say(mode === "SWITCHON" ? "没有已关闭的充电桩" : "没有工作中的充电桩");
  const r = await api.call("POST", "/admin/index/manage", { mode, switch_array: ids });
  if (!r.ok) {
    const why = (r.data?.results || []).filter((x) => !x.ok).map((x) => `${x.charge_id}：${x.msg}`).join("；");
    return say(why ? `${r.msg}（${why}）` : r.msg);
  }
  say(r.msg, "ok");
}

// POST /admin/index/charge/reset: a Soft reset of the pile's charger (every pile of it).
async function resetPile(id) {
  if (!window.confirm(`重启充电桩 ${id} 所在的充电机？正在其上充电的车辆将结束订单。`)) return;
  const r = await api.call("POST", "/admin/index/charge/reset", { charge_id: id, type: "Soft" });
  say(r.msg, r.ok ? "ok" : undefined);
}

async function runReport() {
  const period = $("report-period").value;
  const date = $("report-date").value;
  const rows = [];
  for (const p of station.charge_array) {
    const q = `charge_id=${encodeURIComponent(p.id)}&period=${period}${date ? `&date=${date}` : ""}`;
    const r = await api.call("GET", `/admin/index/report?${q}`);
    if (!r.ok) return say(r.msg);
    rows.push(r.data);
  }
  report = rows;
  $("report-span").textContent = rows.length ? `${PERIODS[period]}：${rows[0].from} 起，${rows[0].to} 止（不含）` : "";
  $("report-chart").replaceChildren(barChart(rows.map((r) => r.id), [
    { name: "充电量 kWh", values: rows.map((r) => r.total_charge), className: "kwh" },
    { name: "总费用 元", values: rows.map((r) => r.total_fee), className: "fee" },
  ]));
  $("report-table").replaceChildren(table(REPORT_COLUMNS, rows));
  $("report-csv").disabled = false;
}

const PERIODS = { day: "日报", week: "周报（ISO 周，周一至周日）", month: "月报" };

const REPORT_COLUMNS = [
  { title: "充电桩", key: "id" },
  { title: "充电次数", key: "total_charge_times" },
  { title: "充电量(kWh)", key: "total_charge" },
  { title: "充电时长(h)", key: "total_charge_duration" },
  { title: "电费(元)", key: "total_charge_fee" },
  { title: "服务费(元)", key: "total_charge_service" },
  { title: "总费用(元)", key: "total_fee" },
].map((c) => ({ ...c, value: (r) => r[c.key] }));

function downloadCsv() {
  const quote = (v) => `"${String(v ?? "").replaceAll('"', '""')}"`;
  const lines = [["周期", "开始", "结束", ...REPORT_COLUMNS.map((c) => c.title)].map(quote).join(",")];
  for (const r of report) lines.push([r.period, r.from, r.to, ...REPORT_COLUMNS.map((c) => r[c.key])].map(quote).join(","));
  const blob = new Blob([`\ufeff${lines.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `report-${$("report-period").value}-${$("report-date").value || "today"}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function clock(body) {
  const r = body ? await api.call("POST", "/admin/sim/clock", body) : await api.call("GET", "/admin/sim/clock");
  if (!r.ok) {
    if (r.error === "not_simulation") { $("sim").hidden = true; return; }
    return say(r.msg);
  }
  $("sim").hidden = false;
  setClock(r.data.time, r.data.speed);
  $("clock-speed").textContent = String(r.data.speed);
  if (!$("clock-time-input").value && r.data.time) $("clock-time-input").value = r.data.time.replace(" ", "T");
  if (body) say(r.msg, "ok");
}

// The simulated clock as last read ({ms, speed, wall}): shown running in the page, since
// the station's state (the live events) is only published when something changes. A live
// state later than the page's reckoning means the clock was moved elsewhere.
let clockAt = null;
const parseTime = (t) => {
  const [d, h] = t.split(" ");
  const [y, mo, da] = d.split("-").map(Number);
  const [hh, mm, ss] = h.split(":").map(Number);
  return Date.UTC(y, mo - 1, da, hh, mm, ss);
};
const formatTime = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
const stationNow = () => clockAt.ms + Math.floor((Date.now() - clockAt.wall) * clockAt.speed);

function setClock(time, speed) {
  clockAt = { ms: parseTime(time), speed, wall: Date.now() };
  paintClock();
}

function paintClock() {
  const t = formatTime(stationNow());
  $("clock-time").textContent = t;
  $("station-time").textContent = t;
}

setInterval(() => { if (clockAt?.speed > 0 && !$("sim").hidden) paintClock(); }, 500);

/** The datetime-local input's value ("2026-11-25T08:00" or with seconds) as the API's time. */
function setTime() {
  const v = $("clock-time-input").value;
  if (!v) return say("请选择时间");
  const [date, t] = v.split("T");
  clock({ time: `${date} ${t.length === 5 ? `${t}:00` : t}` });
}

async function pileOp(path, body, done) {
  const r = await api.call("POST", path, body);
  if (!r.ok) return say(r.msg);
  say(done, "ok");
}

onSubmit("login-form", login);
$("logout").addEventListener("click", () => { stream?.stop(); stream = null; api.forget(); show("login"); });
$("all-on").addEventListener("click", () => switchPiles("SWITCHON", station.charge_array.filter((p) => p.state === "OFF").map((p) => p.id)));
$("all-off").addEventListener("click", () => switchPiles("SWITCHOFF", station.charge_array.filter((p) => p.state === "WORK" || p.state === "REST").map((p) => p.id)));
onSubmit("report-form", runReport);
$("report-csv").addEventListener("click", downloadCsv);
$("step-10m").addEventListener("click", () => clock({ advance_seconds: 600 }));
$("step-1h").addEventListener("click", () => clock({ advance_seconds: 3600 }));
onSubmit("speed-form", () => clock({ speed: Number(field("clock-speed-input")) }));
onSubmit("time-form", setTime);
onSubmit("fault-form", () => pileOp("/admin/sim/fault", { charge_id: $("fault-pile").value, minutes: Number(field("fault-minutes") || 0) }, "已注入故障"));
$("recover").addEventListener("click", () => pileOp("/admin/sim/recover", { charge_id: $("fault-pile").value }, "已恢复"));
if (api.token) enter(); else show("login");
