#!/usr/bin/env node
// Writes the requests of one bench/pipeline.sh step: EVENTS distinct HubSpot events, PER per request, each
// request a validly signed POST /webhooks/hubspot (X-HubSpot-Signature-v3 over PUBLIC_URL + path + body +
// timestamp, signed now: replay within HubSpot's 5 minutes), as records "<byte length>\n<raw request>" for
// bench/pipeline/send.c. Events are body.json's 3 contact.propertyChange events in turn (portal 62515), with
//   objectId   = BASE + k   (k = the event's sequence number in the step, 0-based): every event is a change to
//                a contact nobody changed before, and the delivery's data.objectId says which event it was
//   eventId    = BASE + k   (new HubSpot event identity: wharf queues every event, none is a redelivery)
//   occurredAt = now + k    (ms; informational)
// so event k is in request floor(k / PER), scheduled by send.c at t0 + floor(k / PER) / REQ_RATE.
// usage: node gen.js EVENTS PER BASE SECRET PUBLIC_URL BODY_TEMPLATE OUT_FILE
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [eventsArg, perArg, baseArg, secret, publicUrl, template, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node gen.js EVENTS PER BASE SECRET PUBLIC_URL BODY_TEMPLATE OUT_FILE');
  process.exit(2);
}
const N = Number(eventsArg);
const per = Number(perArg);
const base = Number(baseArg);
if (!(N > 0 && per >= 1 && per <= 100 && Number.isSafeInteger(base + N))) {
  console.error('gen.js: bad EVENTS, PER (1..100) or BASE');
  process.exit(2);
}
const events = JSON.parse(fs.readFileSync(template, 'utf8'));
const path = '/webhooks/hubspot';
const host = new URL(publicUrl).host;
const fd = fs.openSync(out, 'w');
const ts = String(Date.now());
const now = Date.now();
let chunks = [];
let pending = 0;
for (let first = 0; first < N; first += per) {
  const batch = [];
  for (let k = first; k < Math.min(first + per, N); k++) {
    batch.push({ ...events[k % events.length], objectId: base + k, eventId: base + k, occurredAt: now + k });
  }
  const body = JSON.stringify(batch);
  const sig = crypto.createHmac('sha256', secret).update('POST' + publicUrl + path + body + ts).digest('base64');
  const req =
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
    `X-HubSpot-Signature-v3: ${sig}\r\nX-HubSpot-Request-Timestamp: ${ts}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  chunks.push(`${Buffer.byteLength(req)}\n${req}`);
  pending += req.length;
  if (pending > 8 << 20) {
    fs.writeSync(fd, chunks.join(''));
    chunks = [];
    pending = 0;
  }
}
fs.writeSync(fd, chunks.join(''));
fs.closeSync(fd);
