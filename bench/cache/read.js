#!/usr/bin/env node
// Read latency of wharf's cache API (GET /v1/cache/{conn}/contact…) over the records push.js wrote.
// Six kinds of request, each with values drawn (seeded PRNG) from records that exist:
//   get      GET …/contact/<id>                                   (expects that record)
//   list     GET …/contact?limit=100                              (expects 100 records)
//   prefix   filter=lastName:startsWith:<first 3 letters of a record's lastName> limit=100
//   email    filter=email:eq:<a record's email>                   (expects exactly that record)
//   updated  filter=updatedAt:gt:<an instant of the pushed year> limit=100
//   and2     filter=firstName:eq:<a first name> & filter=updatedAt:gt:<an instant in the year's first
//            half> limit=100 (two filters ANDed)
// Every answer is checked (status 200, and each returned record matches the filters); a wrong one counts as
// an error. Per kind: WARM requests first (not measured), then REQS sequential requests over one keep-alive
// connection, then (CONC > 1) REQS requests with CONC in flight over CONC connections.
// The latency is request written -> response fully read, measured in this (node) client, so it includes
// node's own HTTP client cost (~0.1 ms).
// With GW_PID / REDIS_PID set, the gateway's and Redis's CPU (utime+stime, /proc) per request is reported.
// Prints one JSON object per line: {kind, mode, n, p50_ms, p90_ms, p99_ms, max_ms, mean_ms, req_s,
// rows_mean, errors, gw_cpu_us, redis_cpu_us, foreign_cpu_pct, first_error}. foreign_cpu_pct: the box's busy CPU
// minus the gateway's, Redis's and this client's, in % of one core (other work on the machine).
//
// usage: node read.js URL API_TOKEN CONNECTION_ID N ROUND [SEED]
//   N: records pushed (ids 0..N-1), ROUND: the latest round pushed for all of them is 0 (updates of a
//   fraction leave updatedAt later, which the checks allow)
// environment: REQS (500), CONC (8), WARM (50), KINDS ("get list prefix email updated and2"), GW_PID, REDIS_PID
'use strict';
const http = require('http');
const fs = require('fs');
const d = require('./data.js');

const [url, token, conn, nArg, roundArg = '0', seedArg = '1'] = process.argv.slice(2);
if (!nArg) {
  console.error('usage: node read.js URL API_TOKEN CONNECTION_ID N ROUND [SEED]');
  process.exit(2);
}
const N = Number(nArg), ROUND = Number(roundArg);
const REQS = Number(process.env.REQS || 500), CONC = Number(process.env.CONC || 8), WARM = Number(process.env.WARM || 50);
const KINDS = (process.env.KINDS || 'get list prefix email updated and2').split(/\s+/).filter(Boolean);
const target = new URL(url);
const base = `/v1/cache/${encodeURIComponent(conn)}/contact`;

let seed = (Number(seedArg) * 2654435761) >>> 0 || 1;
function rnd() { // xorshift32, in [0, 1)
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const q = (filters, limit) => base + '?' + [...filters.map((f) => 'filter=' + encodeURIComponent(f)),
  ...(limit ? ['limit=' + limit] : [])].join('&');
const iso = (ms) => new Date(ms).toISOString();
const yearStart = d.T0 + ROUND * d.YEAR;

// a request: {path, check(json) -> null | error text}
function make(kind) {
  const i = ri(N);
  switch (kind) {
    case 'get': {
      const id = d.idOf(i);
      return { path: `${base}/${id}`, check: (j) => (j.object && j.object.id === id ? null : `get ${id}: wrong record`) };
    }
    case 'list':
      return { path: q([], 100), check: (j) => (j.objects.length === Math.min(100, N) ? null : `list: ${j.objects.length} rows`) };
    case 'prefix': {
      const p = d.lastName(i).slice(0, 3);
      return { path: q([`lastName:startsWith:${p}`], 100),
        check: (j) => (j.objects.length > 0 && j.objects.every((o) => o.lastName.toLowerCase().startsWith(p.toLowerCase()))
          ? null : `prefix ${p}: ${j.objects.length} rows or a wrong one`) };
    }
    case 'email': {
      const e = d.email(i), id = d.idOf(i);
      return { path: q([`email:eq:${e}`]),
        check: (j) => (j.objects.length === 1 && j.objects[0].id === id ? null : `email ${e}: ${j.objects.length} rows`) };
    }
    case 'updated': {
      const t = yearStart + ri(d.YEAR);
      return { path: q([`updatedAt:gt:${iso(t)}`], 100),
        check: (j) => (j.objects.every((o) => Date.parse(o.updatedAt) > t) ? null : `updated > ${iso(t)}: a wrong row`) };
    }
    case 'and2': {
      const f = d.FIRST[ri(d.FIRST.length)], t = yearStart + ri(d.YEAR / 2);
      return { path: q([`firstName:eq:${f}`, `updatedAt:gt:${iso(t)}`], 100),
        check: (j) => (j.objects.every((o) => o.firstName.toLowerCase() === f.toLowerCase() && Date.parse(o.updatedAt) > t)
          ? null : `and2 ${f} > ${iso(t)}: a wrong row`) };
    }
    default: throw new Error(`unknown kind ${kind}`);
  }
}

function get(agent, path) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: target.hostname, port: target.port, path, agent, headers: { Authorization: `Bearer ${token}` } },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode, body: Buffer.concat(parts).toString() }));
      });
    req.on('error', reject);
    req.end();
  });
}

const ticks = (pid) => {
  if (!pid) return 0;
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime stime (fields 14, 15)
};
const HZ = 100; // USER_HZ on Linux
const busy = () => { // the whole box's busy ticks (user nice system irq softirq steal)
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return f[1] + f[2] + f[3] + f[6] + f[7] + f[8];
};

async function phase(kind, mode, n, conc) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const reqs = Array.from({ length: n }, () => make(kind));
  const lat = [];
  let rows = 0, errors = 0, firstError = null, next = 0;
  const g0 = ticks(process.env.GW_PID), r0 = ticks(process.env.REDIS_PID), b0 = busy(), c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < reqs.length) {
      const r = reqs[next++];
      const res = await get(agent, r.path);
      lat.push(res.ms);
      let err = null;
      if (res.status !== 200) err = `${res.status} ${res.body.slice(0, 200)}`;
      else {
        try {
          const j = JSON.parse(res.body);
          rows += j.objects ? j.objects.length : 1;
          err = r.check(j);
        } catch (e) { err = `unparsable answer: ${e.message}`; }
      }
      if (err) { errors++; firstError = firstError || `${r.path}: ${err}`; }
    }
  }));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const g1 = ticks(process.env.GW_PID), r1 = ticks(process.env.REDIS_PID), b1 = busy(), c1 = process.cpuUsage(c0);
  // CPU of everything but the gateway, Redis and this client, in % of one core
  const foreign = Math.max(0, (b1 - b0 - (g1 - g0) - (r1 - r0)) / HZ - (c1.user + c1.system) / 1e6) / wall * 100;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const pc = (p) => +lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)].toFixed(3);
  return { kind, mode, n, p50_ms: pc(50), p90_ms: pc(90), p99_ms: pc(99), max_ms: +lat[lat.length - 1].toFixed(3),
    mean_ms: +(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(3), req_s: Math.round(n / wall),
    rows_mean: +(rows / n).toFixed(1), errors,
    gw_cpu_us: process.env.GW_PID ? +(((g1 - g0) / HZ) * 1e6 / n).toFixed(0) : null,
    redis_cpu_us: process.env.REDIS_PID ? +(((r1 - r0) / HZ) * 1e6 / n).toFixed(0) : null,
    foreign_cpu_pct: Math.round(foreign), first_error: firstError };
}

(async () => {
  for (const kind of KINDS) {
    if (WARM > 0) await phase(kind, 'warm', WARM, 1);
    console.log(JSON.stringify(await phase(kind, 'seq', REQS, 1)));
    if (CONC > 1) console.log(JSON.stringify(await phase(kind, `c${CONC}`, REQS, CONC)));
  }
})().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
