// The driver's example page (web/client/index.html).
"use strict";
async function login() {
  const d = await api.call("POST", "/client/login", { account: field("account"), password: field("password") });
  if (d) { api.remember(d.token); refresh(); }
}
async function register() {
  const d = await api.call("POST", "/client/register",
    { account: field("account"), password: field("password"), name: field("name") });
  if (d) { api.remember(d.token); refresh(); }
}
async function addCar() {
  await api.call("POST", "/client/index/car",
    { name: field("car_name"), power_capacity: Number(field("capacity")), power_current: Number(field("current")) });
  refresh();
}
async function order() {
  await api.call("POST", "/client/index/order", { car_id: field("car_id"), mode: field("mode"), apply_kwh: Number(field("kwh")) });
  refresh();
}
async function refresh() {
  if (!api.token) return;
  const cars = await api.call("GET", "/client/index/car");
  if (cars) table(document.getElementById("cars"), cars, ["car_id", "name", "power_capacity", "power_current"]);
  const orders = await api.call("GET", "/client/index/order?mode=CURRENT");
  if (orders) table(document.getElementById("orders"), orders,
    ["id", "car_id", "mode", "queue_number", "state", "front_cars", "charge_id", "charge_kwh", "apply_kwh", "fee"]);
}
on("login", login);
on("register", register);
on("add-car", addCar);
on("order", order);
setInterval(refresh, 3000);
refresh();
