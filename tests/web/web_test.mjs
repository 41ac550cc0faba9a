// Browser tests of the web console (issue #11): Debian's chromium, headless, driven by
// playwright-core, against the real running system (stack.mjs). One case per run:
//   node web_test.mjs CASE --scheduler BIN --pile-sim BIN --api BIN --repo SRC --out DIR
// CASE: driver | operator | errors | xss | reconnect | clock | reports | account. Screenshots go to DIR/screenshots; a failure
// prints the processes' logs. Every page's console errors, page errors and dialogs fail the
// test (but for the 401s a case expects).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ADMIN, Stack } from "./stack.mjs";

const args = Object.fromEntries(process.argv.slice(3).reduce((a, v, i, all) => (i % 2 ? a : [...a, [v.replace(/^--/, ""), all[i + 1]]]), []));
const CASE = process.argv[2];
const OUT = path.resolve(args.out);
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const XSS = "<img src=x onerror=alert(1)>";

const shots = path.join(OUT, "screenshots");
fs.mkdirSync(shots, { recursive: true });

/**
 * A page with its console errors, page errors and dialogs collected into `problems`; the
 * console errors matching one of `allowed` go into `allowedSeen` instead, with their time.
 */
async function open(browser, url, viewport = DESKTOP, allowed = []) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: "zh-CN" });
  const page = await context.newPage();
  page.problems = [];
  page.allowedSeen = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const line = `console: ${m.text()} (${m.location().url})`;
    if (allowed.some((re) => re.test(m.text()))) page.allowedSeen.push({ at: Date.now(), line });
    else page.problems.push(line);
  });
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => { page.problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.goto(url);
  return page;
}

function clean(page) {
  assert.deepEqual(page.problems, [], `no console errors, page errors or dialogs on ${page.url()}`);
}

async function shot(page, name) {
  for (const [size, vp] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(vp);
    await page.screenshot({ path: path.join(shots, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

const text = (page, sel) => page.locator(sel).first().textContent();
async function messageIs(page, expected) {
  await page.locator("#msg.error").filter({ hasText: expected }).waitFor({ timeout: 5000 });
}

async function clientLogin(page, account, password = "pw-123") {
  await page.fill("#account", account);
  await page.fill("#password", password);
  await page.click("#login");
  await page.locator("#live", { hasText: "实时" }).waitFor();
}

async function adminLogin(page) {
  await page.fill("#account", ADMIN.account);
  await page.fill("#password", ADMIN.password);
  await page.click("#login");
  await page.locator("#live", { hasText: "实时" }).waitFor();
}

// ---- the cases -------------------------------------------------------------------------

/** register → add a car → request → queue place → clock moves → charging → bill, balance. */
async function driver(stack, browser) {
  // Two cars of another driver take both fast piles first: ours waits.
  const other = await stack.user("other@web.test");
  for (const name of ["甲", "乙"]) await stack.order(other, await stack.car(other, name), "F", 15);

  const page = await open(browser, `${stack.base}/client/index`);
  await page.fill("#account", "driver@web.test");
  await page.fill("#password", "pw-123");
  await page.fill("#name", "韩梅梅");
  await page.click("#register");
  await page.locator("#live", { hasText: "实时" }).waitFor();
  assert.match(await text(page, "#user-name"), /韩梅梅/);

  await page.fill("#car-name", "小白");
  await page.fill("#car-capacity", "60");
  await page.fill("#car-current", "10");
  await page.click("#car-add");
  await page.locator("#cars td", { hasText: "小白" }).waitFor();
  await page.locator("#order-car option", { hasText: "小白" }).waitFor({ state: "attached" });

  await page.selectOption("#order-mode", "F");
  await page.fill("#order-kwh", "30");
  await page.click("#order-submit");
  const order = page.locator("#current .order");
  await order.locator(".state", { hasText: "等候区排队" }).waitFor();
  assert.match(await order.locator(".queue-number").textContent(), /^F\d+$/);
  assert.match(await order.locator(".place").textContent(), /前方等待 0 辆/);
  await shot(page, "client-waiting");

  // The operator moves the clock on: the other cars are done (15 kWh at 30 kW: 30 min).
  await stack.advance(1800);
  await order.locator(".state", { hasText: "充电中" }).waitFor({ timeout: 3000 });
  await stack.advance(1200);  // 10 kWh so far
  await order.locator(".progress", { hasText: "10.00 / 30.00 kWh" }).waitFor({ timeout: 3000 });
  await shot(page, "client-charging");

  await stack.advance(3600);  // done
  await page.locator("#current .empty").waitFor({ timeout: 3000 });
  const row = page.locator("#history tbody tr").first();
  await row.locator("td", { hasText: "已完成" }).waitFor();
  const fee = Number(await row.locator("td").nth(5).textContent());
  assert.ok(fee > 0, "the order has a fee");
  assert.equal(await text(page, "#balance"), (-fee).toFixed(2), "the balance is less the fee");
  await row.locator("button[data-bill]").click();
  await page.locator("#bills td", { hasText: "F" }).first().waitFor();
  const billTotal = await page.locator("#bills tbody tr").evaluateAll((rows) =>
    rows.reduce((s, r) => s + Number(r.cells[8].textContent), 0));
  assert.equal(billTotal.toFixed(2), fee.toFixed(2), "the bills add up to the order's fee");

  await page.fill("#recharge-amount", "100");
  await page.click("#recharge");
  await page.locator("#balance", { hasText: (100 - fee).toFixed(2) }).waitFor();
  await shot(page, "client-done");
  clean(page);
}

/** log in → the driver's car live → switch its pile off → re-dispatched → on → day report → CSV. */
async function operator(stack, browser) {
  const page = await open(browser, `${stack.base}/admin/index`);
  await adminLogin(page);
  await page.locator("#piles .pile").nth(2).waitFor();
  await page.locator("#sim:not([hidden]) #clock-time", { hasText: "2026-11-25" }).waitFor();

  const driverToken = await stack.user("d2@web.test", "李雷");
  const car = await stack.car(driverToken, "小红", 60, 0);
  const t0 = Date.now();
  await stack.order(driverToken, car, "F", 20);
  const f1 = page.locator('[data-pile="F1"]');
  await f1.locator("td", { hasText: "小红" }).waitFor({ timeout: 2000 });
  assert.ok(Date.now() - t0 < 1500, "the car shows within a second or so of its request");
  await stack.advance(600);  // 5 kWh at F1
  await f1.locator("td", { hasText: "5.00 / 20.00" }).waitFor({ timeout: 3000 });
  await shot(page, "admin-station");

  await f1.locator("button.switch").click();
  await f1.locator(".state", { hasText: "已关闭" }).waitFor();
  await page.locator('[data-pile="F2"] td', { hasText: "小红" }).waitFor({ timeout: 3000 });
  assert.equal(await f1.locator("td", { hasText: "小红" }).count(), 0, "the car left the switched-off pile");
  await f1.locator("button.switch", { hasText: "开启" }).click();
  await f1.locator(".state", { hasText: "空闲" }).waitFor();

  await page.click("#step-1h");  // the rest: 15 kWh in 30 min
  await page.locator("#clock-time", { hasText: "07:" }).waitFor();
  await page.locator('[data-pile="F2"] td', { hasText: "小红" }).waitFor({ state: "detached", timeout: 3000 });

  // The bills of the order, as the driver sees them.
  const history = await stack.call("GET", "/client/index/order?mode=HISTORY", undefined, driverToken);
  const orderFee = history.data[0].fee;

  await page.selectOption("#report-period", "day");
  await page.fill("#report-date", "2026-11-25");
  await page.click("#report-run");
  await page.locator("#report-chart svg rect.bar").first().waitFor();
  const rows = await page.locator("#report-table tbody tr").evaluateAll((trs) => trs.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), ["F1", "F2", "T1"]);
  const total = rows.reduce((s, r) => s + Number(r[6]), 0);
  assert.equal(total.toFixed(2), orderFee.toFixed(2), "the day's report holds the order's bills");
  assert.ok(Number(rows[1][6]) > 0, "F2 billed the re-dispatched car");

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#report-csv")]);
  const csv = fs.readFileSync(await download.path(), "utf8").replace(/^\ufeff/, "");
  fs.copyFileSync(await download.path(), path.join(OUT, "report-day.csv"));
  const lines = csv.trim().split(/\r\n/).map((l) => l.split(",").map((c) => c.replace(/^"|"$/g, "")));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines.slice(1).map((l) => l.slice(3)), rows, "the CSV matches the report table");
  assert.deepEqual(lines.slice(1).map((l) => l[0]), ["day", "day", "day"]);
  await shot(page, "admin-report");

  // Fault injection and recovery.
  await page.selectOption("#fault-pile", "T1");
  await page.click("#fault");
  await page.locator('[data-pile="T1"] .state', { hasText: "故障" }).waitFor({ timeout: 3000 });
  await page.click("#recover");
  await page.locator('[data-pile="T1"] .state', { hasText: "空闲" }).waitFor({ timeout: 3000 });
  clean(page);
}

/** readable messages: a full waiting area, a change refused at a pile, an expired token. */
async function errors(stack, browser) {
  const token = await stack.user("full@web.test", "王五");
  const cars = [];
  for (let i = 1; i <= 6; i++) cars.push(await stack.car(token, `车${i}`));
  // F1, F2, T1 take one each; the waiting area takes two: five orders fill the station.
  for (const [i, mode] of ["F", "F", "T", "F", "T"].entries()) await stack.order(token, cars[i], mode, 10);

  const page = await open(browser, `${stack.base}/client/index`, DESKTOP, [/status of 401/]);
  await clientLogin(page, "full@web.test");
  await page.locator("#current .order").nth(4).waitFor();
  await page.selectOption("#order-car", { label: "车6" });
  await page.fill("#order-kwh", "5");
  await page.click("#order-submit");
  await messageIs(page, "等候区已满");

  const charging = page.locator("#current .order", { has: page.locator(".state", { hasText: "充电中" }) }).first();
  await charging.locator("input").fill("12");
  await charging.locator("button.change").click();
  await messageIs(page, "车辆已进入充电区，不能修改充电请求");
  await shot(page, "client-refused");

  // A token that expires while the page is open: the stream ends, the page returns to log-in.
  const me = (await stack.call("GET", "/client/index/information", undefined, token)).data.id;
  const shortLived = stack.forgeToken(me, "client", Math.floor(Date.now() / 1000) + 3);
  await page.evaluate((t) => sessionStorage.setItem("client_token", t), shortLived);
  await page.reload();
  await page.locator("#live", { hasText: "实时" }).waitFor();
  await page.locator("main[data-view=login]:not([hidden])").waitFor({ timeout: 8000 });
  await messageIs(page, "登录已过期");

  // An expired token at load: the log-in, with the reason.
  await page.evaluate((t) => sessionStorage.setItem("client_token", t), stack.forgeToken(me, "client", 1000));
  await page.reload();
  await page.locator("main[data-view=login]:not([hidden])").waitFor();
  await messageIs(page, "登录已失效");
  clean(page);

  const admin = await open(browser, `${stack.base}/admin/index`, DESKTOP, [/status of 401/]);
  await admin.evaluate((t) => sessionStorage.setItem("admin_token", t), stack.forgeToken(1, "admin", 1000));
  await admin.reload();
  await admin.locator("main[data-view=login]:not([hidden])").waitFor();
  await messageIs(admin, "登录已失效");
  clean(admin);
}

/** a car named <img src=x onerror=alert(1)> is text on both pages; no script runs. */
async function xss(stack, browser) {
  const page = await open(browser, `${stack.base}/client/index`);
  await page.fill("#account", "xss@web.test");
  await page.fill("#password", "pw-123");
  await page.click("#register");
  await page.locator("#live", { hasText: "实时" }).waitFor();
  await page.fill("#car-name", XSS);
  await page.fill("#car-capacity", "50");
  await page.fill("#car-current", "0");
  await page.click("#car-add");
  await page.locator("#cars td", { hasText: XSS }).waitFor();
  await page.fill("#order-kwh", "10");
  await page.click("#order-submit");
  await page.locator("#current .car", { hasText: XSS }).waitFor();
  assert.equal(await page.locator("img").count(), 0, "no <img> on the driver's page");

  const admin = await open(browser, `${stack.base}/admin/index`);
  await adminLogin(admin);
  await admin.locator('[data-pile="F1"] td', { hasText: XSS }).waitFor();
  assert.equal(await admin.locator("img").count(), 0, "no <img> on the operator's page");
  await shot(admin, "admin-xss");
  await shot(page, "client-xss");
  await page.waitForTimeout(300);
  clean(page);
  clean(admin);
  // The login pages too.
  const fresh = await open(browser, `${stack.base}/client/index`);
  await fresh.locator("#login").waitFor();
  await shot(fresh, "client-login");
  const freshAdmin = await open(browser, `${stack.base}/admin/index`);
  await freshAdmin.locator("#login").waitFor();
  await shot(freshAdmin, "admin-login");
  clean(fresh);
  clean(freshAdmin);
}

/**
 * station-api stops (SIGTERM, then a second time SIGKILL) while both pages are open and
 * comes back on the same port and database: each page shows it is reconnecting, then
 * reconnects by itself (no reload) and shows a change made after the restart.
 */
async function reconnect(stack, browser) {
  const token = await stack.user("back@web.test", "赵六");
  const cars = [await stack.car(token, "回来1"), await stack.car(token, "回来2")];
  // The only console errors allowed: the refused connections while the API is down (the
  // ticket request, or a page loading the stream). Checked to fall inside the outage.
  const NETWORK = [/Failed to load resource: net::ERR_CONNECTION_REFUSED/];
  const client = await open(browser, `${stack.base}/client/index`, DESKTOP, NETWORK);
  await clientLogin(client, "back@web.test");
  const admin = await open(browser, `${stack.base}/admin/index`, DESKTOP, NETWORK);
  await adminLogin(admin);
  for (const p of [client, admin]) await p.evaluate(() => { window.__samePage = true; });

  const outages = [];
  for (const [round, signal] of [[0, "SIGTERM"], [1, "SIGKILL"]]) {
    const down = Date.now();
    const failedTickets = [client, admin].map((p) => p.waitForEvent("requestfailed",
      { predicate: (r) => r.url().includes("/live/ticket"), timeout: 10000 }));
    await stack.stopApi(signal);
    for (const p of [client, admin]) {
      await p.locator("#live.live-off", { hasText: "重连中" }).waitFor({ timeout: 3000 });
    }
    await Promise.all(failedTickets);  // each page tried and failed while the API was down
    for (const p of [client, admin]) assert.match(await p.locator("#live").textContent(), /重连中/, "still reconnecting");
    if (round === 0) await shot(client, "client-reconnecting");

    await stack.restartApi();
    const up = Date.now();
    // A change after the restart: an order (client), its car at F1 (operator).
    await stack.order(token, cars[round], "F", 10);
    const name = round === 0 ? "回来1" : "回来2";
    await client.locator("#current .car", { hasText: name }).waitFor({ timeout: 8000 });
    await admin.locator('#piles td', { hasText: name }).waitFor({ timeout: 8000 });
    const shown = Date.now() - up;
    for (const p of [client, admin]) {
      await p.locator("#live.live-on", { hasText: "实时" }).waitFor({ timeout: 1000 });
      assert.ok(await p.evaluate(() => window.__samePage), "the page reconnected by itself, not reloaded");
    }
    // The pause between tries is at most 5 s: back within that, the ticket, the event.
    assert.ok(shown < 7000, `the change shows ${shown} ms after the API is back`);
    outages.push({ down, back: Date.now(), shown });
    console.log(`web reconnect: ${signal}: down ${up - down} ms, change on both pages ${shown} ms after the restart`);
  }
  // Only refused connections, and only while the API was down or coming back.
  const seen = new Set([client, admin].flatMap((p) => p.allowedSeen.map((e) => e.line)));
  console.log(`web reconnect: network errors while down: ${[...seen].join(" | ") || "none"}`);
  for (const p of [client, admin]) {
    for (const e of p.allowedSeen) {
      assert.ok(outages.some((o) => e.at >= o.down && e.at <= o.back), `a network error outside an outage: ${e.line}`);
    }
    clean(p);
  }
}

/** The clock in simulation: jump to a time (not backwards), speed, steps; all live. */
async function clock(stack, browser) {
  const page = await open(browser, `${stack.base}/admin/index`);
  await adminLogin(page);
  await page.locator("#sim:not([hidden]) #clock-time", { hasText: "2026-11-25 06:00:00" }).waitFor();
  // (Chromium drops ":00" seconds from a datetime-local value.)
  assert.match(await page.inputValue("#clock-time-input"), /^2026-11-25T06:00(:00)?$/, "the form starts at the clock's time");

  // A car charging at F1 when the clock jumps: the jump completes it (20 min at 30 kW).
  const token = await stack.user("clock@web.test", "钱七");
  await stack.order(token, await stack.car(token, "时钟车"), "F", 10);
  await page.locator('[data-pile="F1"] td', { hasText: "时钟车" }).waitFor();
  await page.fill("#clock-time-input", "2026-11-25T09:30");
  await page.click("#time-set");
  await page.locator("#msg.ok", { hasText: "时钟已更新" }).waitFor();
  await page.locator("#clock-time", { hasText: "2026-11-25 09:30:00" }).waitFor();
  await page.locator("#station-time", { hasText: "2026-11-25 09:30:00" }).waitFor({ timeout: 2000 });
  await page.locator('[data-pile="F1"] td', { hasText: "时钟车" }).waitFor({ state: "detached", timeout: 2000 });
  const history = await stack.call("GET", "/client/index/order?mode=HISTORY", undefined, token);
  assert.equal(history.data[0].state, "FINISHED");
  assert.match(history.data[0].finish_time, /^2026-11-25 06:20/, "finished when due, not at the jump");

  await page.fill("#clock-time-input", "2026-11-25T08:00:30");
  await page.click("#time-set");
  await messageIs(page, "模拟时钟不能倒退");
  assert.equal(await text(page, "#clock-time"), "2026-11-25 09:30:00");

  await page.click("#step-10m");
  await page.locator("#clock-time", { hasText: "2026-11-25 09:40:00" }).waitFor();
  await page.click("#step-1h");
  await page.locator("#station-time", { hasText: "2026-11-25 10:40:00" }).waitFor({ timeout: 2000 });

  // Speed 600: ten station minutes a second, shown live without a click.
  await page.fill("#clock-speed-input", "600");
  await page.click("#speed-set");
  await page.locator("#clock-speed", { hasText: "600" }).waitFor();
  await page.waitForFunction(() => document.getElementById("station-time").textContent >= "2026-11-25 11:00:00", null, { timeout: 5000 });
  await shot(page, "admin-clock");
  await page.fill("#clock-speed-input", "0");
  await page.click("#speed-set");
  await page.locator("#clock-speed", { hasText: /^0$/ }).waitFor();
  // Moved elsewhere (another operator, a script): the page follows.
  const now = (await stack.call("GET", "/admin/sim/clock", undefined, stack.adminToken)).data.time;
  assert.equal(await text(page, "#clock-time"), now, "stopped where the API says");
  await stack.setTime("2026-11-26 08:00:00");
  await page.locator("#clock-time", { hasText: "2026-11-26 08:00:00" }).waitFor({ timeout: 2000 });
  await page.locator("#station-time", { hasText: "2026-11-26 08:00:00" }).waitFor();
  clean(page);
}

/** Week (ISO) and month reports: the periods' bills only, chart and CSV as the table. */
async function reports(stack, browser) {
  const token = await stack.user("rep@web.test", "孙八");
  const fast = await stack.car(token, "报表快", 100, 0);
  const slow = await stack.car(token, "报表慢", 100, 0);
  // One or two sessions on each of four days: Wed 25 Nov and Sun 29 Nov (ISO week 48),
  // Mon 30 Nov (week 49, November), Tue 1 Dec (week 49, December).
  await stack.order(token, fast, "F", 10);
  await stack.order(token, slow, "T", 2);
  await stack.advance(1800);
  await stack.setTime("2026-11-29 10:00:00");
  await stack.order(token, fast, "F", 5);
  await stack.advance(900);
  await stack.setTime("2026-11-30 10:00:00");
  await stack.order(token, slow, "T", 3);
  await stack.order(token, fast, "F", 4);
  await stack.advance(1200);
  await stack.setTime("2026-12-01 10:00:00");
  await stack.order(token, fast, "F", 6);
  await stack.advance(900);

  // What each report must hold: the bills, as the driver sees them, by pile and end time.
  const orders = (await stack.call("GET", "/client/index/order?mode=HISTORY", undefined, token)).data;
  assert.equal(orders.length, 6);
  const bills = [];
  for (const o of orders) bills.push(...(await stack.call("GET", `/client/index/bill?order_id=${o.id}`, undefined, token)).data);
  const expected = (from, to) => ["F1", "F2", "T1"].map((id) => {
    const mine = bills.filter((b) => b.charge_id === id && b.stop_time >= from && b.stop_time < to);
    return { id, times: mine.length, fee: mine.reduce((s, b) => s + b.fee, 0) };
  });

  const page = await open(browser, `${stack.base}/admin/index`);
  await adminLogin(page);
  const views = [
    ["week", "2026-11-25", "2026-11-23 00:00:00", "2026-11-30 00:00:00", 3],
    ["week", "2026-12-01", "2026-11-30 00:00:00", "2026-12-07 00:00:00", 3],
    ["month", "2026-11-25", "2026-11-01 00:00:00", "2026-12-01 00:00:00", 5],
    ["month", "2026-12-01", "2026-12-01 00:00:00", "2027-01-01 00:00:00", 1],
  ];
  for (const [period, date, from, to, sessions] of views) {
    await page.selectOption("#report-period", period);
    await page.fill("#report-date", date);
    await page.click("#report-run");
    await page.locator("#report-span", { hasText: `${from} 起，${to} 止` }).waitFor();
    const rows = await page.locator("#report-table tbody tr").evaluateAll((trs) => trs.map((r) => [...r.cells].map((c) => c.textContent)));
    const want = expected(from, to);
    assert.equal(want.reduce((s, w) => s + w.times, 0), sessions, `${period} ${date}: the sessions of the period`);
    assert.deepEqual(rows.map((r) => [r[0], Number(r[1]), Number(r[6]).toFixed(2)]),
      want.map((w) => [w.id, w.times, w.fee.toFixed(2)]), `${period} ${date}: the report holds the period's bills`);

    // The chart: a bar per pile and series, its labels the table's values.
    assert.equal(await page.locator("#report-chart svg rect.bar.kwh").count(), 3 + 1, "three kWh bars and the legend's");
    const values = await page.locator("#report-chart svg text.value").allTextContents();
    assert.deepEqual(values, [...rows.map((r) => Number(r[2]).toFixed(2)), ...rows.map((r) => Number(r[6]).toFixed(2))],
      `${period} ${date}: the chart shows the table's energy and fees`);

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#report-csv")]);
    assert.equal(download.suggestedFilename(), `report-${period}-${date}.csv`);
    const csv = fs.readFileSync(await download.path(), "utf8").replace(/^\ufeff/, "");
    fs.copyFileSync(await download.path(), path.join(OUT, `report-${period}-${date}.csv`));
    const lines = csv.trim().split(/\r\n/).map((l) => l.split(",").map((c) => c.replace(/^"|"$/g, "")));
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.slice(1).map((l) => l.slice(3)), rows, `${period} ${date}: the CSV matches the report table`);
    assert.deepEqual(lines.slice(1).map((l) => l.slice(0, 3)), rows.map(() => [period, from, to]));
    if (period === "week" && date === "2026-11-25") await shot(page, "admin-report-week");
  }
  clean(page);
}

/** Cars edited (name, capacity, charge), a refused edit; the password changed. */
async function account(stack, browser) {
  const token = await stack.user("acct@web.test", "周九");
  await stack.car(token, "小蓝", 60, 10);
  const page = await open(browser, `${stack.base}/client/index`);
  await clientLogin(page, "acct@web.test");
  const row = page.locator("#cars tbody tr", { hasText: "小蓝" });
  await row.waitFor();

  await row.locator("button[data-edit]").click();
  await page.locator("#car-edit-form:not([hidden])").waitFor();
  assert.equal(await page.inputValue("#edit-name"), "小蓝");
  await page.fill("#edit-name", "大蓝");
  await page.fill("#edit-capacity", "75");
  await page.fill("#edit-current", "20");
  await page.click("#car-save");
  await page.locator("#msg.ok", { hasText: "车辆已修改" }).waitFor();
  await page.locator("#cars td", { hasText: "20.00 / 75.00" }).waitFor();
  await page.locator("#cars td", { hasText: "大蓝" }).waitFor();
  const cars = (await stack.call("GET", "/client/index/car", undefined, token)).data;
  assert.deepEqual(cars.map((c) => [c.name, c.power_capacity, c.power_current]), [["大蓝", 75, 20]], "the change is stored");
  assert.ok(await page.locator("#car-edit-form").isHidden(), "the form closes");

  // More charge than capacity: said at once, nothing sent.
  await page.locator("#cars button[data-edit]").click();
  await page.fill("#edit-current", "90");
  await page.click("#car-save");
  await messageIs(page, "当前电量不能大于电池容量");

  // While the car has an open order: its capacity cannot change (the API refuses), its name can.
  await page.click("#car-edit-cancel");
  await page.fill("#order-kwh", "10");
  await page.click("#order-submit");
  await page.locator("#current .order").waitFor();
  await page.locator("#cars button[data-edit]").click();
  await page.fill("#edit-capacity", "80");
  await page.click("#car-save");
  await messageIs(page, "车辆有未完成的充电订单，不能修改电量");
  await shot(page, "client-car-refused");
  await page.fill("#edit-capacity", "75");
  await page.fill("#edit-name", "蓝蓝");
  await page.click("#car-save");
  await page.locator("#current .car", { hasText: "蓝蓝" }).waitFor();
  assert.equal((await stack.call("GET", "/client/index/car", undefined, token)).data[0].power_capacity, 75);

  // The password: the same account open on another device too.
  const other = await open(browser, `${stack.base}/client/index`, PHONE);
  await clientLogin(other, "acct@web.test");
  await page.locator("#password-box summary").click();
  await page.fill("#old-password", "wrong-one");
  await page.fill("#new-password", "pw-456");
  await page.fill("#new-password-again", "pw-456");
  await page.click("#password-save");
  await messageIs(page, "原密码错误");
  await page.locator("#live.live-on").waitFor();

  await page.fill("#old-password", "pw-123");
  await page.fill("#new-password-again", "pw-457");
  await page.click("#password-save");
  await messageIs(page, "两次输入的新密码不一致");

  await page.fill("#new-password-again", "pw-456");
  await page.click("#password-save");
  await page.locator("#msg.ok", { hasText: "修改成功" }).waitFor();
  // This page goes on live with its new token; a change shows on it.
  const fresh = (await stack.call("POST", "/client/login", { account: "acct@web.test", password: "pw-456" })).data.token;
  await stack.car(fresh, "新车");
  await page.locator("#cars td", { hasText: "新车" }).waitFor({ timeout: 2000 });
  assert.equal(await text(page, "#live"), "实时");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("client_token")) === token, false, "a new token is kept");
  // The other device's session has ended: back at the log-in, with the reason.
  await other.locator("main[data-view=login]:not([hidden])").waitFor({ timeout: 3000 });
  await messageIs(other, "登录已失效");
  await other.fill("#account", "acct@web.test");
  await other.fill("#password", "pw-123");
  await other.click("#login");
  await messageIs(other, "密码错误");
  await clientLogin(other, "acct@web.test", "pw-456");
  await other.locator("#cars td", { hasText: "新车" }).waitFor();
  // Meanwhile the page that changed the password stayed logged in and live.
  assert.ok(await page.locator("main[data-view=main]").isVisible(), "still logged in");
  assert.equal(await text(page, "#live"), "实时");
  clean(page);
  clean(other);
}

const CASES = { driver, operator, errors, xss, reconnect, clock, reports, account };

async function main() {
  if (!CASES[CASE]) throw new Error(`unknown case ${CASE}; one of ${Object.keys(CASES).join(", ")}`);
  const stack = new Stack({
    bin: { scheduler: args.scheduler, pileSim: args["pile-sim"], api: args.api },
    repo: args.repo,
    dir: path.join(OUT, `stack-${CASE}`),
    profile: path.join(args.repo, "tests/web/web-profile.json"),
  });
  fs.rmSync(stack.dir, { recursive: true, force: true });
  let browser;
  try {
    await stack.start();
    browser = await chromium.launch({ executablePath: args.chromium || "/usr/bin/chromium", headless: true });
    await CASES[CASE](stack, browser);
    console.log(`web ${CASE}: passed (screenshots in ${shots})`);
  } catch (e) {
    console.error(`web ${CASE}: FAILED: ${e.stack || e}`);
    console.error(stack.logs());
    process.exitCode = 1;
  } finally {
    await browser?.close();
    await stack.stop();
  }
}

main();
