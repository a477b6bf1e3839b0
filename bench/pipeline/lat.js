#!/usr/bin/env node
// End-to-end latency of one bench/pipeline.sh step, from the sink's log (bench/pipeline/sink.c: lines
// "<arrival µs> <objectId>") and the sender's JSON line (bench/pipeline/send.c: t0_us, rate in requests/s):
// event k (objectId = BASE + k, BASE <= objectId < BASE + EVENTS) was scheduled at t0 + floor(k / PER) / rate,
// so its latency is arrival - that. Lines of other steps (other BASEs) are ignored.
// usage: node lat.js SINK_LOG SEND_JSON EVENTS PER BASE
// Prints one JSON line: delivered (lines of this step), distinct (distinct events delivered), missing,
// duplicates, p50/p90/p99/p999/max in ms, per_s ([p50, p99, max] of the events scheduled in each second of
// the step), first/last arrival relative to t0 (s).
'use strict';
const fs = require('fs');

const [logFile, sendJson, eventsArg, perArg, baseArg] = process.argv.slice(2);
const send = JSON.parse(sendJson);
const N = Number(eventsArg);
const per = Number(perArg);
const base = Number(baseArg);
const period = 1e6 / send.rate; // µs between requests
const seen = new Uint8Array(N);
const lat = [];
const bySec = []; // latencies (µs) by the second of the step their request was scheduled in
let dup = 0;
let last = -Infinity;
let first = Infinity;
for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
  if (!line) continue;
  const sp = line.indexOf(' ');
  const id = Number(line.slice(sp + 1));
  if (!(id >= base && id < base + N)) continue;
  const k = id - base;
  const at = Number(line.slice(0, sp));
  if (seen[k]++) {
    dup++;
    continue;
  }
  const due = Math.floor(k / per) * period;
  lat.push(at - (send.t0_us + due));
  (bySec[Math.floor(due / 1e6)] ||= []).push(at - (send.t0_us + due));
  first = Math.min(first, at);
  last = Math.max(last, at);
}
const a = Float64Array.from(lat).sort();
const q = (p) => (a.length ? +(a[Math.min(a.length - 1, Math.floor(p * a.length))] / 1000).toFixed(2) : null);
console.log(JSON.stringify({
  delivered: a.length + dup, distinct: a.length, missing: N - a.length, duplicates: dup,
  p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: a.length ? +(a[a.length - 1] / 1000).toFixed(2) : null,
  min_ms: a.length ? +(a[0] / 1000).toFixed(2) : null,
  // per scheduled second: [p50, p99, max] in ms (where in the step the tail came from)
  per_s: bySec.map((v) => {
    const b = Float64Array.from(v).sort();
    return [0.5, 0.99, 1].map((p) => +(b[Math.min(b.length - 1, Math.floor(p * b.length))] / 1000).toFixed(1));
  }),
  first_s: a.length ? +((first - send.t0_us) / 1e6).toFixed(3) : null, last_s: a.length ? +((last - send.t0_us) / 1e6).toFixed(3) : null,
}));
