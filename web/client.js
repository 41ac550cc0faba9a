// The driver's page (GET /client/index): log in or register, cars (add, edit, delete), a
// charging request and its queue place live, change or cancel it, past orders with their
// detailed bills, the balance and recharging, and changing the password. Live data comes
// from GET /client/index/live (app.js live()).
import { $, Api, el, field, kwh, live, liveStatus, MODES, money, onSubmit, ORDER_STATES, say, show, table } from "./app.js";

const api = new Api("client_token", (msg) => { stream?.stop(); stream = null; show("login"); say(msg); });
let stream = null;
let state = { current: [], history: [], car_array: [], balance: 0 };
let editing = null;  // the car being edited, as it was when its form opened

const carName = (id) => (state.car_array.find((c) => c.car_id === id) || {}).name || `#${id}`;

async function enter() {
  const info = await api.call("GET", "/client/index/information");
  if (!info.ok) {
    if (info.status !== 401) { show("login"); say(info.msg); }
    return;
  }
  $("user-name").textContent = `${info.data.name}（${info.data.account}）`;
  show("main");
  render({ ...state, car_array: info.data.car_array, balance: info.data.balance });
  stream?.stop();
  stream = live(api, "client", "orders", render, liveStatus);
}

async function login() {
  const r = await api.call("POST", "/client/login", { account: field("account"), password: $("password").value });
  if (!r.ok) return say(r.msg);
  api.remember(r.data.token);
  say("");
  enter();
}

async function register() {
  const r = await api.call("POST", "/client/register",
    { account: field("account"), password: $("password").value, name: field("name") || field("account").split("@")[0] });
  if (!r.ok) return say(r.msg);
  api.remember(r.data.token);
  say("注册成功", "ok");
  enter();
}

function render(d) {
  state = d;
  $("balance").textContent = money(d.balance);
  renderCurrent(d.current);
  renderCars(d.car_array);
  $("history").replaceChildren(table([
    { title: "订单", value: (o) => o.id },
    { title: "车辆", value: (o) => carName(o.car_id) },
    { title: "模式", value: (o) => MODES[o.mode] || o.mode },
    { title: "状态", value: (o) => ORDER_STATES[o.state] || o.state },
    { title: "充电量", value: (o) => kwh(o.charge_kwh) },
    { title: "费用（元）", value: (o) => money(o.fee) },
    { title: "完成时间", value: (o) => o.finish_time },
    { title: "", value: (o) => el("button", { type: "button", className: "small", "data-bill": o.id, text: "详单", onclick: () => bills(o.id) }) },
  ], d.history, "暂无历史订单"));
}

function renderCurrent(orders) {
  if (!orders.length) {
    $("current").replaceChildren(el("p", { className: "empty", text: "暂无进行中的订单" }));
    return;
  }
  $("current").replaceChildren(...orders.map((o) => {
    const place = o.state === "WAITING" ? `前方等待 ${o.front_cars} 辆`
      : o.state === "DISPATCHED" ? `已分配到 ${o.charge_id || "—"}，前方 ${o.front_cars} 辆`
        : o.state === "CHARGING" ? `正在 ${o.charge_id} 充电` : "";
    const mode = el("select", { "aria-label": "新模式" },
      el("option", { value: "", text: "模式不变" }), el("option", { value: "F", text: "快充" }), el("option", { value: "T", text: "慢充" }));
    const amount = el("input", { type: "number", min: "0.01", step: "0.01", placeholder: "新申请电量", "aria-label": "新申请电量" });
    return el("div", { className: "order", "data-order": o.id },
      el("div", { className: "order-head" },
        el("span", { className: "queue-number", text: o.queue_number }),
        el("span", { className: `state state-${o.state}`, text: ORDER_STATES[o.state] || o.state }),
        el("span", { className: "car", text: carName(o.car_id) })),
      el("p", { className: "place", text: place }),
      el("dl", {},
        el("dt", { text: "模式" }), el("dd", { text: MODES[o.mode] || o.mode }),
        el("dt", { text: "已充 / 申请" }), el("dd", { className: "progress", text: `${kwh(o.charge_kwh)} / ${kwh(o.apply_kwh)} kWh` }),
        el("dt", { text: "电费 + 服务费" }), el("dd", { text: `${money(o.charge_fee)} + ${money(o.service_fee)} 元` }),
        el("dt", { text: "费用合计" }), el("dd", { className: "fee", text: `${money(o.fee)} 元` })),
      el("div", { className: "row" }, mode, amount,
        el("button", { type: "button", className: "change", text: "修改", onclick: () => change(o, mode.value, amount.value) }),
        el("button", { type: "button", className: "cancel danger", text: "取消", onclick: () => cancel(o) })));
  }));
}

function renderCars(cars) {
  $("cars").replaceChildren(table([
    { title: "名称", value: (c) => c.name },
    { title: "电量 / 容量 (kWh)", value: (c) => `${kwh(c.power_current)} / ${kwh(c.power_capacity)}` },
    { title: "", value: (c) => el("span", { className: "row" },
      el("button", { type: "button", className: "small secondary", "data-edit": c.car_id, text: "修改", onclick: () => editCar(c) }),
      el("button", { type: "button", className: "small secondary", "data-delete": c.car_id, text: "删除", onclick: () => removeCar(c) })) },
  ], cars, "还没有车辆"));
  if (editing && !cars.some((c) => c.car_id === editing.car_id)) closeEdit();
  const select = $("order-car");
  const chosen = select.value;
  select.replaceChildren(...cars.map((c) => el("option", { value: c.car_id, text: c.name })));
  if (cars.some((c) => c.car_id === chosen)) select.value = chosen;
}

async function refreshInfo() {
  const info = await api.call("GET", "/client/index/information");
  if (info.ok) render({ ...state, car_array: info.data.car_array, balance: info.data.balance });
}

async function addCar() {
  const r = await api.call("POST", "/client/index/car",
    { name: field("car-name"), power_capacity: Number(field("car-capacity")), power_current: Number(field("car-current")) });
  if (!r.ok) return say(r.msg);
  say("车辆已添加", "ok");
  $("car-form").reset();
  refreshInfo();
}

function editCar(c) {
  editing = c;
  $("car-edit-title").textContent = `修改车辆：${c.name}`;
  $("edit-name").value = c.name;
  $("edit-capacity").value = String(c.power_capacity);
  $("edit-current").value = String(c.power_current);
  $("car-edit-form").hidden = false;
  $("edit-name").focus();
}

function closeEdit() {
  editing = null;
  $("car-edit-form").hidden = true;
}

/** Sends only what changed: a car with an open order may still be renamed. */
async function saveCar() {
  if (!editing) return;
  const body = { car_id: editing.car_id };
  const name = field("edit-name");
  const capacity = Number(field("edit-capacity"));
  const current = Number(field("edit-current"));
  if (name !== editing.name) body.name = name;
  if (capacity !== editing.power_capacity) body.power_capacity = capacity;
  if (current !== editing.power_current) body.power_current = current;
  if (Object.keys(body).length === 1) return say("没有修改任何内容");
  if (current > capacity) return say("当前电量不能大于电池容量");
  const r = await api.call("PATCH", "/client/index/car", body);
  if (!r.ok) return say(r.msg);
  say("车辆已修改", "ok");
  closeEdit();
  refreshInfo();
}

async function removeCar(c) {
  const r = await api.call("DELETE", "/client/index/car", { car_id: c.car_id });
  if (!r.ok) return say(r.msg);
  say("车辆已删除", "ok");
  refreshInfo();
}

async function order() {
  if (!$("order-car").value) return say("请先添加车辆");
  const r = await api.call("POST", "/client/index/order",
    { car_id: $("order-car").value, mode: $("order-mode").value, apply_kwh: Number(field("order-kwh")) });
  if (!r.ok) return say(r.msg);
  say(`已提交，排队号 ${r.data.queue_number}`, "ok");
}

async function change(o, mode, amount) {
  const body = { id: o.id };
  if (mode) body.mode = mode;
  if (amount) body.apply_kwh = Number(amount);
  if (!mode && !amount) return say("请选择新模式或填写新申请电量");
  const r = await api.call("PATCH", "/client/index/order", body);
  if (!r.ok) return say(r.msg);
  say("修改成功", "ok");
}

async function cancel(o) {
  const r = await api.call("DELETE", "/client/index/order", { id: o.id });
  if (!r.ok) return say(r.msg);
  say("订单已取消", "ok");
}

async function bills(orderId) {
  const r = await api.call("GET", `/client/index/bill?order_id=${encodeURIComponent(orderId)}`);
  if (!r.ok) return say(r.msg);
  $("bills").replaceChildren(el("h3", { text: `订单 ${orderId} 的详单` }), table([
    { title: "详单", value: (b) => b.id },
    { title: "充电桩", value: (b) => b.charge_id },
    { title: "充电量 (kWh)", value: (b) => kwh(b.charge_kwh) },
    { title: "时长 (h)", value: (b) => b.charge_duration },
    { title: "开始", value: (b) => b.start_time },
    { title: "结束", value: (b) => b.stop_time },
    { title: "电费", value: (b) => money(b.charge_fee) },
    { title: "服务费", value: (b) => money(b.service_fee) },
    { title: "合计（元）", value: (b) => money(b.fee) },
  ], r.data, "该订单没有详单"));
}

async function recharge() {
  const r = await api.call("POST", "/client/index/recharge", { amount: field("recharge-amount") });
  if (!r.ok) return say(r.msg);
  $("balance").textContent = money(r.data.balance);
  state.balance = r.data.balance;
  $("recharge-form").reset();
  say("充值成功", "ok");
}

/**
 * A new password ends every session of the account but this one, which goes on with the
 * token in the answer. The stream is stopped first: with the old token it would end
 * (`expired`) and send the page to the log-in.
 */
async function changePassword() {
  const next = $("new-password").value;
  if (next !== $("new-password-again").value) return say("两次输入的新密码不一致");
  stream?.stop();
  const r = await api.call("POST", "/client/index/information", { old_password: $("old-password").value, new_password: next });
  if (r.ok && r.data?.token) api.remember(r.data.token);
  if (r.status === 401) return;  // the session had ended anyway: back at the log-in
  stream = live(api, "client", "orders", render, liveStatus);
  if (!r.ok) return say(r.msg);
  $("password-form").reset();
  $("password-box").open = false;
  say(r.msg || "密码已修改", "ok");
}

onSubmit("login-form", login);
onSubmit("car-edit-form", saveCar);
$("car-edit-cancel").addEventListener("click", closeEdit);
onSubmit("password-form", changePassword);
$("register").addEventListener("click", register);
onSubmit("car-form", addCar);
onSubmit("order-form", order);
onSubmit("recharge-form", recharge);
$("logout").addEventListener("click", () => { stream?.stop(); stream = null; api.forget(); show("login"); });
if (api.token) enter(); else show("login");
