#!/usr/bin/env node
// Pushes contact records into wharf through POST /v1/connections/{id}/sync/records (the sync engine's
// route), BATCH records per request (at most 1000, and the API's 256 KiB body limit: 500 of data.js's
// ~355-byte records make ~180 KB, 1000 would be refused with 413), CONCURRENCY requests in flight over keep-alive
// connections. Records come from data.js: record(i, ROUND) for i in [FROM, FROM + COUNT).
// Every request must answer 202 {"accepted": <its records>}; otherwise it exits non-zero.
// Prints one JSON line: {records, requests, seconds, records_per_s, body_bytes_mean}.
//
// usage: node push.js URL API_TOKEN CONNECTION_ID COUNT [ROUND] [FROM] [STEP]
//   ROUND  0: the initial sync (default); r > 0: updates (updatedAt one year later per round, new phone
//          and lead status)   STEP: push every STEP-th record only (1; 5 pushes 20 % of them)
// environment: BATCH (500), CONCURRENCY (4)
'use strict';
const http = require('http');
const { record } = require('./data.js');

const [url, token, conn, countArg, roundArg = '0', fromArg = '0', stepArg = '1'] = process.argv.slice(2);
if (!countArg) {
  console.error('usage: node push.js URL API_TOKEN CONNECTION_ID COUNT [ROUND] [FROM] [STEP]');
  process.exit(2);
}
const COUNT = Number(countArg), ROUND = Number(roundArg), FROM = Number(fromArg), STEP = Number(stepArg);
const BATCH = Math.min(1000, Number(process.env.BATCH || 500));
const CONC = Number(process.env.CONCURRENCY || 4);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
const path = `/v1/connections/${encodeURIComponent(conn)}/sync/records`;

const ids = [];
for (let i = FROM; i < FROM + COUNT; i += STEP) ids.push(i);
let next = 0, records = 0, requests = 0, bytes = 0;

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname, port: target.port, path, method: 'POST', agent,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let d = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: d }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function worker() {
  while (next < ids.length) {
    const chunk = ids.slice(next, next + BATCH);
    next += chunk.length;
    const body = JSON.stringify({ objectType: 'contact', source: 'sync', records: chunk.map((i) => record(i, ROUND)) });
    bytes += body.length;
    let res;
    for (let attempt = 0; ; attempt++) { // a 503 (queue_unavailable) is retried a few times, anything else fails
      res = await post(body);
      if (res.status !== 503 || attempt >= 5) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    let acc = -1;
    try { acc = JSON.parse(res.body).accepted; } catch (_) { /* reported below */ }
    if (res.status !== 202 || acc !== chunk.length) {
      throw new Error(`POST ${path}: expected 202 {"accepted":${chunk.length}}, got ${res.status} ${res.body.slice(0, 300)}`);
    }
    records += acc;
    requests++;
  }
}

(async () => {
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONC }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  console.log(JSON.stringify({ records, requests, seconds: +s.toFixed(3), records_per_s: Math.round(records / s),
    body_bytes_mean: Math.round(bytes / Math.max(1, requests)) }));
})().catch((e) => { console.error(e.message); process.exit(1); });
