#!/usr/bin/env node
// An OCPP 1.6J charge point for the gateway's tests, built on ocpp-rpc's RPCClient in
// strict mode: every message it sends and receives is validated against the OCPP 1.6
// JSON schemas, so a schema-invalid answer from the gateway fails the call here.
//
// It boots, reports its connectors Available, obeys RemoteStartTransaction /
// RemoteStopTransaction / ChangeAvailability / TriggerMessage / Get- and
// ChangeConfiguration / Reset, meters energy at --power-kw while a transaction runs and sends
// MeterValues every MeterValueSampleInterval. Everything it does is printed as one JSON
// line on stdout ({"event": ...}) for the test to read.
//
//   node cp-sim.js --url ws://127.0.0.1:PORT/ocpp --identity CP1 --password SECRET
//                  [--connectors 1,2] [--power-kw 60] [--meter-start-wh 1000000]
//                  [--drop-after-meter N --offline-ms MS]   reconnect mid-transaction
//                  [--exit-after-stop]                       exit 0 after the first stop
//                  [--queue-stop-offline]    with --drop-after-meter: the car leaves while
//                                            offline; StopTransaction (EVDisconnected) is
//                                            queued and sent after reconnecting
//                  [--fault-after-meter N]   after N MeterValues of a transaction: Faulted,
//                                            and the transaction stopped (reason Other)
//                  [--answer-delay-ms N]     answer RemoteStartTransaction N ms late
//                  [--call-while-pending]    while its boot is Pending, try one Heartbeat
//                  [--ca FILE]               with a wss:// URL: trust the CA (PEM) in FILE
//                  [--restart-ms N]          after an accepted Reset: back N ms after
//                                            closing its connection (default 1000)
//
// Reset (OCPP 1.6 §5.14) is Accepted. Soft: the running transactions are stopped first
// (StopTransaction, reason SoftReset), then the connection is closed. Hard: closed at once;
// the transactions' StopTransaction (reason HardReset) is kept and sent once the charger
// is back and its boot accepted. Either way it comes back after --restart-ms and boots
// again (BootNotification), as a restarted charger does.
//
// Signals: SIGUSR1 faults every connector (Faulted; a running transaction is stopped,
// reason Other), SIGUSR2 clears the fault (Available). A boot answered Pending is sent
// again after the answer's interval, or at once when the central system triggers it.
'use strict';
const { RPCClient } = require('ocpp-rpc');

function options(argv) {
    const o = {
        url: '', identity: 'CP1', password: '', connectors: [1], powerKw: 60,
        meterStartWh: 1000000, dropAfterMeter: 0, offlineMs: 1500, exitAfterStop: false,
        queueStopOffline: false, faultAfterMeter: 0, answerDelayMs: 0, callWhilePending: false,
        ca: '', restartMs: 1000,
    };
    for (let i = 2; i < argv.length; ++i) {
        const a = argv[i];
        const v = () => argv[++i];
        if (a === '--url') o.url = v();
        else if (a === '--identity') o.identity = v();
        else if (a === '--password') o.password = v();
        else if (a === '--connectors') o.connectors = v().split(',').map(Number);
        else if (a === '--power-kw') o.powerKw = Number(v());
        else if (a === '--meter-start-wh') o.meterStartWh = Number(v());
        else if (a === '--drop-after-meter') o.dropAfterMeter = Number(v());
        else if (a === '--offline-ms') o.offlineMs = Number(v());
        else if (a === '--exit-after-stop') o.exitAfterStop = true;
        else if (a === '--queue-stop-offline') o.queueStopOffline = true;
        else if (a === '--fault-after-meter') o.faultAfterMeter = Number(v());
        else if (a === '--answer-delay-ms') o.answerDelayMs = Number(v());
        else if (a === '--call-while-pending') o.callWhilePending = true;
        else if (a === '--ca') o.ca = v();
        else if (a === '--restart-ms') o.restartMs = Number(v());
        else { console.error(`cp-sim: unknown option ${a}`); process.exit(2); }
    }
    return o;
}

const opt = options(process.argv);
const say = (event, fields = {}) => console.log(JSON.stringify({ event, t: Date.now(), ...fields }));
const now = () => new Date().toISOString();

let sampleIntervalS = 60;
let registerWh = opt.meterStartWh;  // the meter, Wh
let lastMeterAt = Date.now();
const tx = new Map();  // connectorId -> {id, idTag}
let meterTimer = null;
let metersSent = 0;
let dropped = false;
let txMeters = 0;          // MeterValues sent in the running transaction
const faulted = new Set(); // connectorIds
const queued = [];         // StopTransaction payloads waiting for the connection
let bootTimer = null;
let accepted = false;

const sleep = ms => new Promise(r => setTimeout(r, ms));
const connectorStatus = c => (faulted.has(c) ? 'Faulted' : tx.has(c) ? 'Charging' : 'Available');

function meter() {
    const t = Date.now();
    if (tx.size > 0) registerWh += opt.powerKw * 1000 * (t - lastMeterAt) / 3600000;
    lastMeterAt = t;
}

const client = new RPCClient({
    endpoint: opt.url,
    identity: opt.identity,
    password: opt.password || undefined,
    protocols: ['ocpp1.6'],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 10000,
    // wss:// (OCPP security profile 2): the central system's certificate is checked
    // against --ca, or against the system's CAs without it.
    wsOpts: opt.ca ? { ca: require('fs').readFileSync(opt.ca) } : {},
});

const online = () => client.state === RPCClient.OPEN;

async function call(method, params) {
    const reply = await client.call(method, params);
    say('answer', { method, reply });
    return reply;
}

async function status(connectorId, s, errorCode = 'NoError') {
    // A faulted connector says nothing else until its fault clears (recover()).
    if (faulted.has(connectorId) && s !== 'Faulted') return;
    if (online()) await call('StatusNotification', { connectorId, errorCode, status: s, timestamp: now() });
}

// The charger faults: it says so, then ends the running transaction itself.
async function fault(connectorId) {
    if (faulted.has(connectorId)) return;
    faulted.add(connectorId);
    meter();
    say('faulted', { connectorId });
    await status(connectorId, 'Faulted', 'GroundFailure');
    const t = tx.get(connectorId);
    if (t) {
        tx.delete(connectorId);
        await call('StopTransaction', { transactionId: t.id, idTag: t.idTag, meterStop: Math.round(registerWh), timestamp: now(), reason: 'Other' });
        say('transaction_stopped', { connectorId, transactionId: t.id, meterStop: Math.round(registerWh), reason: 'Other' });
    }
}

async function recover(connectorId) {
    if (!faulted.delete(connectorId)) return;
    say('recovered', { connectorId });
    await status(connectorId, 'Available');
}

async function sendMeterValues() {
    meter();
    for (const [connectorId, t] of tx) {
        if (!online()) return;
        await call('MeterValues', {
            connectorId, transactionId: t.id,
            meterValue: [{ timestamp: now(), sampledValue: [
                { value: (registerWh / 1000).toFixed(4), measurand: 'Energy.Active.Import.Register', unit: 'kWh', context: 'Sample.Periodic' },
                { value: String(opt.powerKw * 1000), measurand: 'Power.Active.Import', unit: 'W' },
            ] }],
        });
        ++metersSent;
        ++txMeters;
        if (opt.faultAfterMeter > 0 && txMeters === opt.faultAfterMeter) {
            await fault(connectorId);
            continue;
        }
        if (opt.dropAfterMeter > 0 && metersSent >= opt.dropAfterMeter && !dropped) {
            dropped = true;
            say('dropping', { offline_ms: opt.offlineMs });
            await client.close({ code: 1001, reason: 'network lost', force: true });
            if (opt.queueStopOffline) {
                // The car leaves while the charger is offline: the transaction ends here and
                // its StopTransaction waits for the connection (OCPP 1.6 §4.8).
                await sleep(Math.floor(opt.offlineMs / 2));
                meter();
                const stop = { transactionId: t.id, idTag: t.idTag, meterStop: Math.round(registerWh), timestamp: now(), reason: 'EVDisconnected' };
                tx.delete(connectorId);
                queued.push(stop);
                say('stop_queued', stop);
            }
            setTimeout(() => connect(true), opt.offlineMs);
        }
    }
}

function scheduleMeter() {
    if (meterTimer) clearInterval(meterTimer);
    meterTimer = setInterval(() => sendMeterValues().catch(e => say('error', { where: 'MeterValues', message: e.message })),
                             Math.max(200, sampleIntervalS * 1000));
}

async function startTransaction(connectorId, idTag) {
    if (faulted.has(connectorId)) return;  // faulted between the remote start and now
    meter();
    await status(connectorId, 'Preparing');
    const reply = await call('StartTransaction', { connectorId, idTag, meterStart: Math.round(registerWh), timestamp: now() });
    if (reply.idTagInfo.status === 'Accepted' && faulted.has(connectorId)) {
        // Faulted while the start was on its way: the transaction ends at once.
        await call('StopTransaction', { transactionId: reply.transactionId, idTag, meterStop: Math.round(registerWh), timestamp: now(), reason: 'Other' });
        say('transaction_stopped', { connectorId, transactionId: reply.transactionId, meterStop: Math.round(registerWh), reason: 'Other' });
        return;
    }
    if (reply.idTagInfo.status !== 'Accepted') {
        say('transaction_refused', { connectorId, transactionId: reply.transactionId, status: reply.idTagInfo.status });
        await call('StopTransaction', { transactionId: reply.transactionId, meterStop: Math.round(registerWh), timestamp: now(), reason: 'DeAuthorized' });
        await status(connectorId, 'Available');
        return;
    }
    tx.set(connectorId, { id: reply.transactionId, idTag });
    txMeters = 0;
    say('transaction_started', { connectorId, transactionId: reply.transactionId, meterStart: Math.round(registerWh) });
    await status(connectorId, 'Charging');
}

async function stopTransaction(connectorId, reason) {
    const t = tx.get(connectorId);
    if (!t) return;
    meter();
    tx.delete(connectorId);
    await status(connectorId, 'Finishing');
    await call('StopTransaction', { transactionId: t.id, idTag: t.idTag, meterStop: Math.round(registerWh), timestamp: now(), reason });
    say('transaction_stopped', { connectorId, transactionId: t.id, meterStop: Math.round(registerWh), reason });
    await status(connectorId, 'Available');
    if (opt.exitAfterStop) setTimeout(() => process.exit(0), 200);
}

client.handle('RemoteStartTransaction', async ({ params }) => {
    const connectorId = params.connectorId ?? opt.connectors[0];
    say('remote_start', { connectorId, idTag: params.idTag });
    if (!opt.connectors.includes(connectorId) || tx.has(connectorId) || faulted.has(connectorId)) return { status: 'Rejected' };
    if (opt.answerDelayMs > 0) {
        say('answer_delayed', { method: 'RemoteStartTransaction', delay_ms: opt.answerDelayMs });
        await sleep(opt.answerDelayMs);
        say('answered_late', { method: 'RemoteStartTransaction' });
    }
    setTimeout(() => startTransaction(connectorId, params.idTag).catch(e => say('error', { where: 'StartTransaction', message: e.message })), 50);
    return { status: 'Accepted' };
});

client.handle('RemoteStopTransaction', ({ params }) => {
    say('remote_stop', { transactionId: params.transactionId });
    for (const [connectorId, t] of tx) {
        if (t.id === params.transactionId) {
            setTimeout(() => stopTransaction(connectorId, 'Remote').catch(e => say('error', { where: 'StopTransaction', message: e.message })), 50);
            return { status: 'Accepted' };
        }
    }
    return { status: 'Rejected' };
});

client.handle('ChangeAvailability', ({ params }) => {
    say('change_availability', params);
    return { status: 'Accepted' };
});

client.handle('TriggerMessage', ({ params }) => {
    say('trigger', params);
    if (params.requestedMessage === 'BootNotification') {
        setTimeout(() => boot().catch(e => say('error', { where: 'BootNotification', message: e.message })), 50);
        return { status: 'Accepted' };
    }
    if (params.requestedMessage === 'StatusNotification') {
        setTimeout(() => opt.connectors.forEach(c => status(c, connectorStatus(c))), 50);
        return { status: 'Accepted' };
    }
    return { status: 'NotImplemented' };
});

client.handle('GetConfiguration', () => ({
    configurationKey: [{ key: 'MeterValueSampleInterval', readonly: false, value: String(sampleIntervalS) }],
}));

client.handle('ChangeConfiguration', ({ params }) => {
    say('change_configuration', params);
    if (params.key !== 'MeterValueSampleInterval') return { status: 'NotSupported' };
    const v = Number(params.value);
    if (!Number.isInteger(v) || v < 0) return { status: 'Rejected' };
    sampleIntervalS = v;
    scheduleMeter();
    return { status: 'Accepted' };
});

// An accepted Reset: the charger restarts (see the header).
async function restart(type) {
    const reason = type === 'Hard' ? 'HardReset' : 'SoftReset';
    if (type === 'Soft') {
        for (const connectorId of [...tx.keys()]) await stopTransaction(connectorId, reason);
    } else {
        meter();
        for (const [connectorId, t] of tx) {
            const stop = { transactionId: t.id, idTag: t.idTag, meterStop: Math.round(registerWh), timestamp: now(), reason };
            queued.push(stop);
            say('stop_queued', { connectorId, ...stop });
        }
        tx.clear();
    }
    say('restarting', { type, restart_ms: opt.restartMs });
    accepted = false;
    await client.close({ code: 1001, reason: 'reset' });
    setTimeout(() => connect(true, true).catch(e => say('error', { where: 'restart', message: e.message })), opt.restartMs);
}

client.handle('Reset', ({ params }) => {
    say('reset', params);
    setTimeout(() => restart(params.type).catch(e => say('error', { where: 'Reset', message: e.message })), 50);
    return { status: 'Accepted' };
});

async function boot() {
    if (bootTimer) clearTimeout(bootTimer);
    bootTimer = null;
    const reply = await call('BootNotification', { chargePointVendor: 'EVCS-Test', chargePointModel: 'cp-sim', firmwareVersion: '1.0' });
    say('boot', { status: reply.status, interval: reply.interval });
    accepted = reply.status === 'Accepted';
    if (accepted) {
        for (const c of opt.connectors) await status(c, connectorStatus(c));
        await call('Heartbeat', {});
        return;
    }
    // Pending or Rejected: nothing but the boot again after `interval` (OCPP 1.6 §4.2),
    // unless the central system asks for it sooner (TriggerMessage).
    if (opt.callWhilePending) {
        try {
            await client.call('Heartbeat', {});
            say('pending_call', { method: 'Heartbeat', answered: true });
        } catch (e) {
            say('pending_call', { method: 'Heartbeat', error: e.rpcErrorCode || e.name, message: e.message });
        }
    }
    bootTimer = setTimeout(() => boot().catch(e => say('error', { where: 'BootNotification', message: e.message })),
                           Math.max(1, reply.interval) * 1000);
}

// What was queued while offline goes first, in order.
async function deliverQueued() {
    while (queued.length > 0) {
        const stop = queued.shift();
        await call('StopTransaction', stop);
        say('stop_delivered', { transactionId: stop.transactionId, meterStop: stop.meterStop, queued_at: stop.timestamp });
        say('transaction_stopped', { transactionId: stop.transactionId, meterStop: stop.meterStop, reason: stop.reason });
    }
}

// `again`: after a drop or a restart; `restarted`: after a Reset (it boots again).
async function connect(again, restarted = false) {
    try {
        await client.connect();
    } catch (e) {
        say('refused', { name: e.name, message: e.message, status: e.response ? e.response.statusCode : undefined });
        process.exit(3);
    }
    say(again ? 'reconnected' : 'connected', { protocol: client.protocol, restarted });
    if (!again) {
        await boot();
        scheduleMeter();
    } else if (restarted) {
        // OCPP 1.6 §5.14: a Hard reset's stops follow the accepted boot.
        await boot();
        if (accepted) await deliverQueued();
    } else {
        // A charger that only lost its network does not boot again: it goes on, and says
        // how its connectors are, after what was queued while offline.
        await deliverQueued();
        for (const c of opt.connectors) await status(c, connectorStatus(c));
    }
}

client.on('close', ({ code, reason }) => say('closed', { code, reason: String(reason || '') }));
client.on('badMessage', ({ error }) => say('bad_message', { message: error && error.message }));
process.on('SIGUSR1', () => { for (const c of opt.connectors) fault(c).catch(e => say('error', { where: 'fault', message: e.message })); });
process.on('SIGUSR2', () => { for (const c of opt.connectors) recover(c).catch(e => say('error', { where: 'recover', message: e.message })); });
process.on('SIGTERM', () => { client.close({ force: true }).finally(() => process.exit(0)); });
connect(false).catch(e => { say('error', { where: 'connect', message: e.message }); process.exit(1); });
