// A small client of the station's REST API (docs/openapi.yaml); the pages are examples
// for frontend teams, not the product's frontend. Served under a Content-Security-Policy
// with no inline script: every handler is attached here, and data from the server is
// only ever written as text (never as HTML), so a car named <img onerror=...> stays text.
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
// Fills the table `el` with a header row of `columns` and one row per item of `rows`.
function table(el, rows, columns) {
  const row = (cells, tag) => {
    const tr = document.createElement("tr");
    for (const text of cells) {
      const cell = document.createElement(tag);
      cell.textContent = text ?? "";
      tr.appendChild(cell);
    }
    return tr;
  };
  el.replaceChildren(row(columns, "th"), ...rows.map((r) => row(columns.map((c) => r[c]), "td")));
}
function field(id) { return document.getElementById(id).value; }
// Runs `handler` when the button with id `id` is clicked.
function on(id, handler) { document.getElementById(id).addEventListener("click", handler); }
