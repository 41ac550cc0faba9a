// The web console's numbers for docs/benchmarks.md: the weight of each page (HTML, JS and
// CSS as served, uncompressed, counted by the browser), the time from navigation to the
// first live update on screen, and the time from a change (a REST request) to the page
// showing it. Against the real system (stack.mjs), headless chromium:
//   node bench.mjs bench --scheduler BIN --pile-sim BIN --api BIN --repo SRC --out DIR [--runs N]
// (tests/web/run.sh SRC WORK bench SCHEDULER PILE_SIM API runs it from the build folder).
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ADMIN, Stack } from "./stack.mjs";

const args = Object.fromEntries(process.argv.slice(3).reduce((a, v, i, all) => (i % 2 ? a : [...a, [v.replace(/^--/, ""), all[i + 1]]]), []));
const RUNS = Number(args.runs || 10);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

// Notes the moment the live badge first says 实时 (the first event was rendered).
const MARK = `new MutationObserver((_, o) => {
  const b = document.getElementById("live");
  if (b && b.textContent === "实时" && !window.__firstLive) { window.__firstLive = performance.now(); o.disconnect(); }
}).observe(document, { subtree: true, childList: true, characterData: true });`;

async function measure(browser, stack, role, token) {
  const key = role === "admin" ? "admin_token" : "client_token";
  const weights = [];
  const firsts = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    await context.addInitScript(MARK);
    await context.addInitScript(([k, t]) => sessionStorage.setItem(k, t), [key, token]);
    const page = await context.newPage();
    let bytes = 0;
    page.on("response", (r) => {
      const type = r.request().resourceType();
      if (["document", "script", "stylesheet"].includes(type)) bytes += Number(r.headers()["content-length"] || 0);
    });
    await page.goto(`${stack.base}/${role}/index`);
    await page.waitForFunction(() => window.__firstLive);
    firsts.push(await page.evaluate(() => window.__firstLive));
    await page.waitForLoadState("load");  // every script and style sheet is in
    weights.push(bytes);
    await context.close();
  }
  return { bytes: max(weights), first: median(firsts), firstMax: max(firsts) };
}

async function main() {
  const stack = new Stack({
    bin: { scheduler: args.scheduler, pileSim: args["pile-sim"], api: args.api },
    repo: args.repo, dir: path.join(path.resolve(args.out), "stack-bench"),
    profile: path.join(args.repo, "tests/web/web-profile.json"),
  });
  fs.rmSync(stack.dir, { recursive: true, force: true });  // a fresh database
  let browser;
  try {
    await stack.start();
    browser = await chromium.launch({ executablePath: args.chromium || "/usr/bin/chromium", headless: true });
    const driver = await stack.user("bench@web.test", "测试");
    const admin = await measure(browser, stack, "admin", stack.adminToken);
    const client = await measure(browser, stack, "client", driver);

    // A change on the bus to the operator's screen: a request through REST, then the car
    // at a pile on the page; then cancelled (the next run starts from an empty station).
    const page = await browser.newPage();
    await page.addInitScript(([t]) => sessionStorage.setItem("admin_token", t), [stack.adminToken]);
    await page.goto(`${stack.base}/admin/index`);
    await page.locator("#live", { hasText: "实时" }).waitFor();
    const lags = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `车${i}`;
      const car = await stack.car(driver, name);
      const t0 = Date.now();
      const order = await stack.order(driver, car, "F", 10);
      await page.locator("#piles td", { hasText: name }).waitFor();
      lags.push(Date.now() - t0);
      await stack.call("DELETE", "/client/index/order", { id: order.id }, driver);
      await page.locator("#piles td", { hasText: name }).waitFor({ state: "detached" });
    }
    console.log(`runs: ${RUNS} page loads per page, ${RUNS} changes`);
    console.log(`page weight (HTML+JS+CSS, uncompressed): admin ${admin.bytes} B, client ${client.bytes} B`);
    console.log(`navigation to first live update on screen: admin median ${admin.first.toFixed(0)} ms (max ${admin.firstMax.toFixed(0)}), client median ${client.first.toFixed(0)} ms (max ${client.firstMax.toFixed(0)})`);
    console.log(`REST request sent to the car on the operator's screen: median ${median(lags)} ms, max ${max(lags)} ms`);
  } finally {
    await browser?.close();
    await stack.stop();
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
