#!/usr/bin/env node
// Delivery sink for the latency run of bench/dispatch.sh: answers 200 to every POST and records, per
// delivery, arrival time - the event's occurredAt (load.js in RATE mode stamps occurredAt with the time it
// sent the ingest request, in ms, on the same clock). On SIGTERM prints one JSON line: count, distinct
// webhook-ids, p50/p90/p99/max in ms, and the first body seen (to show what wharf delivers).
// usage: node latency-sink.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 18093);
const lat = [];
const ids = new Set();
let first = null;
let unparsed = 0;

function occurredAt(v) {
  // wharf's delivery body: {"type":…, "timestamp":…, "data":{…,"occurredAt":"<ISO>"|ms, …}} (searched, not assumed)
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'occurredAt') {
        const t = typeof x === 'number' ? x : Date.parse(x);
        if (!Number.isNaN(t)) return t;
      }
      const r = occurredAt(x);
      if (r !== null) return r;
    }
  }
  return null;
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      const text = Buffer.concat(chunks).toString();
      if (first === null) first = text;
      ids.add(req.headers['webhook-id']);
      let t = null;
      try {
        t = occurredAt(JSON.parse(text));
      } catch {}
      if (t === null) unparsed++;
      else lat.push(now - t);
      res.writeHead(200);
      res.end();
    });
  })
  .listen(port, '127.0.0.1');

process.on('SIGTERM', () => {
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
  console.log(JSON.stringify({ deliveries: lat.length + unparsed, distinct_webhook_ids: ids.size, unparsed,
    p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: lat.length ? lat[lat.length - 1] : null,
    first_body: first }));
  process.exit(0);
});
