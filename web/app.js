// A small client of the station's REST API (docs/openapi.yaml); the pages are examples
// for frontend teams, not the product's frontend.
"use strict";
const api = {
  token: sessionStorage.getItem("token") || "",
  async call(method, path, body) {
    const init = { method, headers: { "Content-Type": "application/json" } };
    if (this.token) init.headers.token = this.token;
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(path, init);
    const json = await res.json();
    const ok = json.code === 0 || json.code === 200 || json.code === "0";
    document.getElementById("msg").textContent = ok ? "" : json.msg;
    return ok ? json.data : null;
  },
  remember(token) { this.token = token; sessionStorage.setItem("token", token); },
};
function table(el, rows, columns) {
  const head = "<tr>" + columns.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  const body = rows.map((r) => "<tr>" + columns.map((c) => `<td>${r[c] ?? ""}</td>`).join("") + "</tr>").join("");
  el.innerHTML = head + body;
}
function field(id) { return document.getElementById(id).value; }
