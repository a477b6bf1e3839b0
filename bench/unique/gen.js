#!/usr/bin/env node
// Writes COUNT distinct, correctly signed HubSpot requests for wrk (rotate.lua) to replay, so that every
// request carries new events: wharf deduplicates redeliveries, and a benchmark that resends one body would
// measure the duplicate path (no stream write) instead of ingestion.
//
// usage: node gen.js COUNT SECRET PUBLIC_BASE_URL BODY_TEMPLATE OUT_FILE [PATH]
// Each record is "<byte length>\n<raw HTTP/1.1 request>". Event ids are the template's, offset per request,
// so bodies keep the template's size (±a few bytes). Signed now: replay within 5 minutes.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [count, secret, base, template, out, path = '/webhooks/hubspot'] = process.argv.slice(2);
if (!out) {
  console.error('usage: node gen.js COUNT SECRET PUBLIC_BASE_URL BODY_TEMPLATE OUT_FILE [PATH]');
  process.exit(2);
}
const events = JSON.parse(fs.readFileSync(template, 'utf8'));
const fd = fs.openSync(out, 'w');
const ts = String(Date.now());
const chunks = [];
let pending = 0;
for (let i = 0; i < Number(count); i++) {
  const batch = events.map((e, k) => ({ ...e, eventId: 1e12 + i * events.length + k }));
  const body = JSON.stringify(batch);
  const sig = crypto.createHmac('sha256', secret).update('POST' + base + path + body + ts).digest('base64');
  const req =
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `X-HubSpot-Signature-v3: ${sig}\r\nX-HubSpot-Request-Timestamp: ${ts}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  chunks.push(`${Buffer.byteLength(req)}\n${req}`);
  pending += req.length;
  if (pending > 8 << 20) {
    fs.writeSync(fd, chunks.join(''));
    chunks.length = 0;
    pending = 0;
  }
}
fs.writeSync(fd, chunks.join(''));
fs.closeSync(fd);
