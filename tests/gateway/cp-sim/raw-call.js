#!/usr/bin/env node
// A raw OCPP-J client for the gateway's tests: what the strict ocpp-rpc client refuses to
// send. It connects like a charger (subprotocol ocpp1.6, HTTP Basic), sends each message
// given on the command line as it is, one after the other, waiting for each answer, and
// prints every frame it receives as one JSON line ({"event": "frame", "frame": [...]}).
// Calls from the central system are printed, never answered.
//
//   node raw-call.js --url ws://127.0.0.1:PORT/ocpp --identity CP1 --password SECRET
//                    --send '[2,"m1","BootNotification",{...}]' [--send ...] [--wait-ms 5000]
//                    [--ca FILE]   with a wss:// URL: trust the CA (PEM) in FILE
'use strict';
const WebSocket = require('ws');

const o = { url: '', identity: 'CP1', password: '', send: [], waitMs: 5000, ca: '' };
for (let i = 2; i < process.argv.length; ++i) {
    const a = process.argv[i];
    const v = () => process.argv[++i];
    if (a === '--url') o.url = v();
    else if (a === '--identity') o.identity = v();
    else if (a === '--password') o.password = v();
    else if (a === '--send') o.send.push(v());
    else if (a === '--wait-ms') o.waitMs = Number(v());
    else if (a === '--ca') o.ca = v();
    else { console.error(`raw-call: unknown option ${a}`); process.exit(2); }
}
const say = (event, fields = {}) => console.log(JSON.stringify({ event, t: Date.now(), ...fields }));

const auth = Buffer.from(`${o.identity}:${o.password}`).toString('base64');
const ws = new WebSocket(`${o.url}/${o.identity}`, ['ocpp1.6'], {
    headers: { Authorization: `Basic ${auth}` },
    ...(o.ca ? { ca: require('fs').readFileSync(o.ca) } : {}),
});
const waiting = new Map();  // message id -> resolve
ws.on('unexpected-response', (req, res) => { say('refused', { status: res.statusCode }); process.exit(3); });
ws.on('error', e => { say('error', { message: e.message }); process.exit(1); });
ws.on('close', (code) => say('closed', { code }));
ws.on('message', data => {
    let frame;
    try { frame = JSON.parse(String(data)); } catch (e) { say('bad_frame', { text: String(data) }); return; }
    say('frame', { frame });
    if (Array.isArray(frame) && (frame[0] === 3 || frame[0] === 4) && waiting.has(frame[1])) {
        waiting.get(frame[1])();
        waiting.delete(frame[1]);
    }
});
ws.on('open', async () => {
    say('connected', { protocol: ws.protocol });
    for (const text of o.send) {
        let id = null;
        try { const f = JSON.parse(text); if (Array.isArray(f) && typeof f[1] === 'string') id = f[1]; } catch (e) { /* sent as it is */ }
        const answered = id === null ? Promise.resolve() : new Promise(r => waiting.set(id, r));
        ws.send(text);
        say('sent', { text });
        await Promise.race([answered, new Promise(r => setTimeout(r, o.waitMs))]);
    }
    say('done');
    ws.close(1000);
    setTimeout(() => process.exit(0), 200);
});
