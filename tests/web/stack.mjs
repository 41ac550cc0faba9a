// The running system for the browser tests: a broker of its own (broker/start-dev.sh),
// station-scheduler with a stepped simulated clock, station-pile-sim and station-api on free
// loopback ports with a fresh database, all in a folder of the test's own; and a small REST
// client for setting the scene. Every process started here is stopped by its pid.
import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const ADMIN = { account: "admin@station.test", password: "web-admin-pw" };
const SECRET = "web-test-secret-0123456789abcdef0123456789abcdef";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, check, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export class Stack {
  /** opts: {bin: {scheduler, pileSim, api}, repo, dir, profile, apiArgs} */
  constructor(opts) {
    this.opts = opts;
    this.dir = opts.dir;
    this.procs = [];
  }

  spawnLogged(name, cmd, args, env = {}) {
    const log = fs.openSync(path.join(this.dir, `${name}.log`), "a");
    const p = spawn(cmd, args, { stdio: ["ignore", log, log], env: { ...process.env, ...env } });
    this.procs.push(p);
    return p;
  }

  async start() {
    fs.mkdirSync(this.dir, { recursive: true });
    const brokerDir = path.join(this.dir, "broker");
    execFileSync(path.join(this.opts.repo, "broker/start-dev.sh"), [brokerDir, "0"], { stdio: "ignore" });
    this.brokerPid = Number(fs.readFileSync(path.join(brokerDir, "broker.pid"), "utf8"));
    const broker = `tcp://127.0.0.1:${fs.readFileSync(path.join(brokerDir, "broker.port"), "utf8").trim()}`;
    const profile = this.opts.profile;
    this.spawnLogged("scheduler", this.opts.bin.scheduler, ["--broker", broker, "--profile", profile,
      "--client-id", "web-scheduler", "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "0"]);
    this.spawnLogged("pile-sim", this.opts.bin.pileSim, ["--broker", broker, "--profile", profile]);
    this.broker = broker;
    await this.startApi(0);
    this.adminToken = (await this.call("POST", "/admin/login", ADMIN)).data.token;
    await waitFor("every pile on and idle", async () => {
      const m = await this.call("GET", "/admin/index/manage", undefined, this.adminToken);
      return m.data?.charge_array?.length && m.data.charge_array.every((p) => p.state === "REST");
    });
    return this;
  }

  /** Starts station-api on `port` (0: a free one) with the stack's database; sets `base`. */
  async startApi(port) {
    const portFile = path.join(this.dir, "api.port");
    fs.rmSync(portFile, { force: true });  // a stale one from an earlier run
    this.api = this.spawnLogged("api", this.opts.bin.api, ["--broker", this.broker, "--db", path.join(this.dir, "api.db"),
      "--port", String(port), "--port-file", portFile, "--password-iterations", "1000", "--threads", "8",
      "--web-root", path.join(this.opts.repo, "web"), ...(this.opts.apiArgs || [])],
    { STATION_ADMIN_ACCOUNT: ADMIN.account, STATION_ADMIN_PASSWORD: ADMIN.password, STATION_JWT_SECRET: SECRET });
    const bound = await waitFor("station-api's port", () => {
      try { return fs.readFileSync(portFile, "utf8").trim(); } catch { return ""; }
    });
    this.base = `http://127.0.0.1:${bound}`;
    this.port = Number(bound);
  }

  /** Stops station-api with `signal` (SIGTERM: a restart; SIGKILL: a crash) and waits for it to exit. */
  async stopApi(signal = "SIGTERM") {
    const p = this.api;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
  }

  /** station-api again on the same port and database, once it shows the station. */
  async restartApi() {
    await this.startApi(this.port);
    await waitFor("station-api answering", async () => {
      try { return (await this.call("GET", "/admin/index/manage", undefined, this.adminToken)).data?.charge_array?.length > 0; } catch { return false; }
    });
  }

  async stop() {
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
    }
    await Promise.all(this.procs.map((p) => (p.exitCode === null && p.signalCode === null
      ? new Promise((r) => { const t = setTimeout(() => { p.kill("SIGKILL"); r(); }, 5000); p.on("exit", () => { clearTimeout(t); r(); }); })
      : null)));
    if (this.brokerPid) { try { process.kill(this.brokerPid, "SIGTERM"); } catch { /* gone */ } }
  }

  /** A REST call: the envelope, with `status`. */
  async call(method, p, body, token) {
    const headers = {};
    if (token) headers.token = token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { ...(await res.json()), status: res.status };
  }

  async user(account, name = "用户") {
    const r = await this.call("POST", "/client/register", { account, password: "pw-123", name });
    if (r.code !== 0) throw new Error(`register ${account}: ${r.msg}`);
    return r.data.token;
  }

  async car(token, name, capacity = 60, current = 0) {
    const r = await this.call("POST", "/client/index/car", { name, power_capacity: capacity, power_current: current }, token);
    if (r.code !== 0) throw new Error(`car ${name}: ${r.msg}`);
    return r.data.car_id;
  }

  async order(token, carId, mode, kwh) {
    const r = await this.call("POST", "/client/index/order", { car_id: carId, mode, apply_kwh: kwh }, token);
    if (r.code !== 200) throw new Error(`order: ${r.msg}`);
    return r.data;
  }

  async advance(seconds) {
    const r = await this.call("POST", "/admin/sim/clock", { advance_seconds: seconds }, this.adminToken);
    if (r.code !== 0) throw new Error(`clock: ${r.msg}`);
  }

  async setTime(time) {
    const r = await this.call("POST", "/admin/sim/clock", { time }, this.adminToken);
    if (r.code !== 0) throw new Error(`clock: ${r.msg}`);
  }

  /** A token signed with the run's key for `sub` and `role`, expiring at `exp` (UTC s). */
  forgeToken(sub, role, exp) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: String(sub), iat: exp - 10, exp, role, ver: 0 })}`;
    return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
  }

  logs() {
    return ["scheduler", "pile-sim", "api"].map((n) => {
      try { return `--- ${n}\n${fs.readFileSync(path.join(this.dir, `${n}.log`), "utf8").slice(-3000)}`; } catch { return ""; }
    }).join("\n");
  }
}
