// Browser tests of the web console (issue #11): Debian's chromium, headless, driven by
// playwright-core, against the real running system (stack.mjs). One case per run:
//   node web_test.mjs CASE --scheduler BIN --pile-sim BIN --api BIN --repo SRC --out DIR
// CASE: driver | operator | errors | xss. Screenshots go to DIR/screenshots; a failure
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

/** A page with its console errors, page errors and dialogs collected into `problems`. */
async function open(browser, url, viewport = DESKTOP, allowed = []) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: "zh-CN" });
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !allowed.some((re) => re.test(m.text()))) page.problems.push(`console: ${m.text()} (${m.location().url})`);
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

const CASES = { driver, operator, errors, xss };

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
