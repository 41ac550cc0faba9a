#!/usr/bin/env node
// Many OCPP 1.6J charge points in one process against one station-gateway (issue #10's
// benchmarks; bench/ocpp_bench.sh runs it). Each charge point is an ocpp-rpc RPCClient in
// strict mode with one connector: it boots, reports Available, sends a Heartbeat every
// --heartbeat-s and MeterValues every --meter-s, and obeys RemoteStart/RemoteStop,
// ChangeAvailability, TriggerMessage and Get/ChangeConfiguration as cp-sim does.
//
// Phases, each reported as one JSON line on stdout:
//   connected  all N booted and reported Available (time from the first connect)
//   steady     --steady-s seconds of heartbeats and meter values (the shell measures the
//              gateway's CPU and memory over it, between the "steady_begin" and "steady"
//              lines)
//   fault      --faults times: a car is requested on the bus (mosquitto_pub); when its
//              charger has started the transaction, that charger reports Faulted; the
//              time until another charger receives RemoteStartTransaction is measured;
//              then the car is cancelled and the faulted charger recovers
//   storm      every connection is dropped at once and all reconnect at once: the time
//              until all N have booted and reported Available again
//
//   node ocpp_load.js --url ws://127.0.0.1:PORT/ocpp --chargers chargers.json
//                     --broker-port P [--steady-s 60] [--faults 50] [--heartbeat-s 10]
//                     [--meter-s 10]
'use strict';
const { RPCClient } = require('ocpp-rpc');
const { execFile } = require('child_process');
const fs = require('fs');

function options(argv) {
    const o = { url: '', chargers: '', brokerPort: 1883, steadyS: 60, faults: 50, heartbeatS: 10, meterS: 10 };
    for (let i = 2; i < argv.length; ++i) {
        const v = () => argv[++i];
        switch (argv[i]) {
            case '--url': o.url = v(); break;
            case '--chargers': o.chargers = v(); break;
            case '--broker-port': o.brokerPort = Number(v()); break;
            case '--steady-s': o.steadyS = Number(v()); break;
            case '--faults': o.faults = Number(v()); break;
            case '--heartbeat-s': o.heartbeatS = Number(v()); break;
            case '--meter-s': o.meterS = Number(v()); break;
            default: console.error(`ocpp_load: unknown option ${argv[i]}`); process.exit(2);
        }
    }
    return o;
}

const opt = options(process.argv);
const report = (phase, fields) => console.log(JSON.stringify({ phase, t: Date.now(), ...fields }));
const now = () => new Date().toISOString();
const sleep = ms => new Promise(r => setTimeout(r, ms));
const pct = (sorted, p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;

class ChargePoint {
    constructor(spec) {
        this.identity = spec.identity;
        this.password = spec.password;
        this.pile = spec.connectors[0].pile;
        this.powerKw = spec.connectors[0].power_kw;
        this.registerWh = 1e6;
        this.tx = null;  // {id, idTag}
        this.timers = [];
        this.onRemoteStart = null;  // hook of the fault phase
        this.bootWake = null;       // ends the wait of a boot answered Pending
    }
    open() {
        this.client = new RPCClient({
            endpoint: opt.url, identity: this.identity, password: this.password,
            protocols: ['ocpp1.6'], strictMode: true, reconnect: false, callTimeoutMs: 30000,
        });
        const c = this.client;
        c.handle('RemoteStartTransaction', ({ params }) => {
            if (this.onRemoteStart) this.onRemoteStart(this, params);
            if (this.tx) return { status: 'Rejected' };
            setTimeout(() => this.start(params.idTag).catch(() => {}), 1);
            return { status: 'Accepted' };
        });
        c.handle('RemoteStopTransaction', ({ params }) => {
            if (!this.tx || this.tx.id !== params.transactionId) return { status: 'Rejected' };
            setTimeout(() => this.stop('Remote').catch(() => {}), 1);
            return { status: 'Accepted' };
        });
        c.handle('ChangeAvailability', () => ({ status: 'Accepted' }));
        c.handle('TriggerMessage', ({ params }) => {
            if (params.requestedMessage === 'StatusNotification') {
                setTimeout(() => this.status(this.tx ? 'Charging' : 'Available').catch(() => {}), 1);
                return { status: 'Accepted' };
            }
            if (params.requestedMessage === 'BootNotification') {
                if (this.bootWake) this.bootWake();  // a boot answered Pending goes again now
                else setTimeout(() => this.boot().catch(() => {}), 1);
                return { status: 'Accepted' };
            }
            return { status: 'NotImplemented' };
        });
        c.handle('GetConfiguration', () => ({ configurationKey: [{ key: 'MeterValueSampleInterval', readonly: false, value: String(opt.meterS) }] }));
        c.handle('ChangeConfiguration', () => ({ status: 'Accepted' }));
    }
    async connect() {
        this.open();
        await this.client.connect();
        await this.boot();
        this.timers.push(setInterval(() => this.client.call('Heartbeat', {}).catch(() => {}), opt.heartbeatS * 1000));
        this.timers.push(setInterval(() => this.meterValues().catch(() => {}), opt.meterS * 1000));
    }
    async boot() {
        // Pending (the gateway's link to the station is not up yet, e.g. while its 1,000
        // MQTT clients connect on a busy machine): boot again after the answer's interval,
        // or at once when the central system triggers it, as a real charger does.
        for (;;) {
            const reply = await this.client.call('BootNotification', { chargePointVendor: 'EVCS-Bench', chargePointModel: 'ocpp_load' });
            if (reply.status === 'Accepted') break;
            if (reply.status !== 'Pending') throw new Error(`${this.identity}: boot ${reply.status}`);
            await new Promise(r => { this.bootWake = r; setTimeout(r, (reply.interval || 10) * 1000); });
            this.bootWake = null;
        }
        await this.status(this.tx ? 'Charging' : 'Available');
    }
    status(s) {
        return this.client.call('StatusNotification', { connectorId: 1, errorCode: s === 'Faulted' ? 'OtherError' : 'NoError', status: s, timestamp: now() });
    }
    async meterValues() {
        const value = (this.registerWh / 1000).toFixed(4);
        await this.client.call('MeterValues', {
            connectorId: 1, ...(this.tx ? { transactionId: this.tx.id } : {}),
            meterValue: [{ timestamp: now(), sampledValue: [{ value, measurand: 'Energy.Active.Import.Register', unit: 'kWh' }] }],
        });
    }
    async start(idTag) {
        await this.status('Preparing');
        const reply = await this.client.call('StartTransaction', { connectorId: 1, idTag, meterStart: Math.round(this.registerWh), timestamp: now() });
        if (reply.idTagInfo.status !== 'Accepted') {  // the station no longer wants it
            await this.client.call('StopTransaction', { transactionId: reply.transactionId, meterStop: Math.round(this.registerWh), timestamp: now(), reason: 'DeAuthorized' });
            await this.status('Available');
            return;
        }
        this.tx = { id: reply.transactionId, idTag };
        await this.status('Charging');
        if (this.onStarted) this.onStarted(this);
    }
    async stop(reason) {
        if (!this.tx) return;
        const t = this.tx;
        this.tx = null;
        await this.client.call('StopTransaction', { transactionId: t.id, meterStop: Math.round(this.registerWh), timestamp: now(), reason });
        await this.status('Available');
    }
    async close() {
        this.timers.forEach(clearInterval);
        this.timers = [];
        await this.client.close({ force: true, awaitPending: false });
    }
}

function publish(request) {
    return new Promise((resolve, reject) => execFile('mosquitto_pub',
        ['-h', '127.0.0.1', '-p', String(opt.brokerPort), '-q', '1', '-t', 'evcs/v1/scheduler/requests', '-m', JSON.stringify(request)],
        e => (e ? reject(e) : resolve())));
}

async function all(points, fn, concurrency) {
    let next = 0;
    const workers = Array.from({ length: concurrency }, async () => {
        while (next < points.length) await fn(points[next++]);
    });
    await Promise.all(workers);
}

async function faultPhase(points) {
    const latencies = [];
    let failures = 0;
    for (let k = 0; k < opt.faults; ++k) {
        const car = `BENCH${k}`;
        const startedAt = new Promise(resolve => points.forEach(p => { p.onStarted = resolve; }));
        await publish({ id: `bench-submit-${k}`, reply_to: 'evcs/v1/replies/bench', op: 'submit', car, mode: 'F', kwh: 50 });
        const first = await Promise.race([startedAt, sleep(10000).then(() => null)]);
        points.forEach(p => { p.onStarted = null; });
        if (!first) { ++failures; continue; }
        const moved = new Promise(resolve => points.forEach(p => {
            if (p !== first) p.onRemoteStart = (q) => resolve(q);
        }));
        const t0 = process.hrtime.bigint();
        await first.status('Faulted');
        const second = await Promise.race([moved, sleep(10000).then(() => null)]);
        const t1 = process.hrtime.bigint();
        points.forEach(p => { p.onRemoteStart = null; });
        if (!second) { ++failures; } else { latencies.push(Number(t1 - t0) / 1e6); }
        // Let the second charger's transaction start before the car leaves.
        for (let i = 0; second && !second.tx && i < 100; ++i) await sleep(20);
        await publish({ id: `bench-cancel-${k}`, reply_to: 'evcs/v1/replies/bench', op: 'cancel', car });
        await sleep(200);
        if (first.tx) await first.stop('Other').catch(() => {});
        await first.status('Available');
        await sleep(200);
    }
    latencies.sort((a, b) => a - b);
    report('fault', { runs: opt.faults, measured: latencies.length, failures,
        p50_ms: pct(latencies, 0.5), p99_ms: pct(latencies, 0.99), max_ms: latencies[latencies.length - 1] ?? null });
}

async function main() {
    const specs = JSON.parse(fs.readFileSync(opt.chargers, 'utf8')).chargers;
    const points = specs.map(s => new ChargePoint(s));
    const t0 = Date.now();
    await all(points, p => p.connect(), 50);
    report('connected', { chargers: points.length, seconds: (Date.now() - t0) / 1000 });

    report('steady_begin', {});
    await sleep(opt.steadyS * 1000);
    report('steady', { seconds: opt.steadyS });

    if (opt.faults > 0) await faultPhase(points);

    await Promise.all(points.map(p => p.close()));
    await sleep(500);
    const s0 = Date.now();
    await Promise.all(points.map(p => p.connect()));
    report('storm', { chargers: points.length, seconds: (Date.now() - s0) / 1000 });

    await Promise.all(points.map(p => p.close()));
    process.exit(0);
}

main().catch(e => { console.error(`ocpp_load: ${e.stack || e}`); process.exit(1); });
