// The administrator's example page (web/admin/index.html).
"use strict";
async function login() {
  const d = await api.call("POST", "/admin/login", { account: field("account"), password: field("password") });
  if (d) api.remember(d.token);
}
async function refresh() {
  if (!api.token) return;
  const d = await api.call("GET", "/admin/index/manage");
  if (!d) return;
  table(document.getElementById("piles"), d.charge_array.map((p) => ({ ...p,
    cars: p.car_blocks.map((c) => `${c.number} ${c.name} ${c.state} ${c.charged_kwh}/${c.apply_kwh}`).join("; ") })),
    ["id", "mode", "state", "total_charge_times", "total_charge", "total_fee", "cars"]);
  table(document.getElementById("waiting"), d.wait_array, ["number", "name", "apply_kwh", "wait_time"]);
}
on("login", login);
setInterval(refresh, 2000);
refresh();
