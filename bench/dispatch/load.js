#!/usr/bin/env node
// Queues N distinct HubSpot change events in wharf through its real ingest route, before any worker runs:
// signed POST /webhooks/hubspot requests (X-HubSpot-Signature-v3, like HubSpot) made of BODY_TEMPLATE's
// events (../shared/bench/body.json: 3 contact.propertyChange events per request) with new event ids,
// object ids and occurredAt in every event, so that no event is a redelivery (wharf dedupes those) and no
// cache update is older than one already applied. Sent with CONCURRENCY keep-alive requests in flight.
// Exits non-zero unless every request answered 202 with {"accepted": <its events>} and no duplicates.
//
// usage: node load.js N URL PUBLIC_URL SECRET BODY_TEMPLATE RUN_TAG
//   URL         where to send (http://127.0.0.1:<port>), PUBLIC_URL what wharf signs (WHARF_PUBLIC_URL)
//   RUN_TAG     a small integer, distinct per run, folded into the ids
// environment: EVENTS_PER_REQ (default: the template's event count), CONCURRENCY (32)
//              RATE (events/s): fixed-rate mode for the latency run: request k is sent at t0 + k * its events /
//              RATE (or at once when late) and its events' occurredAt is that scheduled time in ms, so the sink's
//              arrival time - occurredAt is the end-to-end latency including any queueing on the sending side
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const [nArg, url, publicUrl, secret, template, tagArg] = process.argv.slice(2);
if (!tagArg) {
  console.error('usage: node load.js N URL PUBLIC_URL SECRET BODY_TEMPLATE RUN_TAG');
  process.exit(2);
}
const N = Number(nArg);
const tag = Number(tagArg);
const events = JSON.parse(fs.readFileSync(template, 'utf8'));
const per = Number(process.env.EVENTS_PER_REQ || events.length);
const conc = Number(process.env.CONCURRENCY || 32);
const path = '/webhooks/hubspot';
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
const t0 = Date.now();
const rate = Number(process.env.RATE || 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let next = 0; // next event index
let accepted = 0;
let duplicates = 0;
let requests = 0;
const bad = [];

function body(first, count, stamp) {
  const out = [];
  for (let k = 0; k < count; k++) {
    const i = first + k;
    const e = events[i % events.length];
    out.push({
      ...e,
      eventId: tag * 1e9 + i,
      objectId: 1e9 + tag * 1e7 + i,
      occurredAt: stamp === undefined ? t0 + i : stamp,
    });
  }
  return JSON.stringify(out);
}

function send(first, count, stamp) {
  const b = body(first, count, stamp);
  const ts = String(Date.now());
  const sig = crypto.createHmac('sha256', secret).update('POST' + publicUrl + path + b + ts).digest('base64');
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(b),
          'x-hubspot-signature-v3': sig,
          'x-hubspot-request-timestamp': ts,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          requests++;
          if (res.statusCode !== 202) {
            bad.push(`${res.statusCode} ${text}`);
          } else {
            const j = JSON.parse(text);
            accepted += j.accepted || 0;
            duplicates += j.duplicates || 0;
            if ((j.accepted || 0) !== count) bad.push(`accepted ${j.accepted} of ${count}: ${text}`);
          }
          resolve();
        });
      },
    );
    req.on('error', (err) => {
      bad.push(String(err));
      resolve();
    });
    req.end(b);
  });
}

async function lane() {
  while (next < N) {
    const first = next;
    const count = Math.min(per, N - first);
    next += count;
    if (rate > 0) {
      const due = t0 + (first * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      await send(first, count, Math.round(due));
    } else await send(first, count);
  }
}

Promise.all(Array.from({ length: conc }, lane)).then(() => {
  agent.destroy();
  const s = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ events: N, requests, accepted, duplicates, bad: bad.length, first_bad: bad[0] || null, seconds: s }));
  process.exit(bad.length === 0 && accepted === N && duplicates === 0 ? 0 : 1);
});
