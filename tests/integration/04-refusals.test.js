'use strict';
// Scenario 4: every refused webhook answers the documented status + code and queues nothing
// (wh:q:{p0..p7} unchanged: XLEN and entries-added) and nothing reaches the sink.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('refusals');
const MAX_BODY = 64 * 1024;
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
const v1Secret = `hs-v1-secret-${crypto.randomBytes(8).toString('hex')}`;
const V1_PORTAL = 77001;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis, env: { WHARF_MAX_BODY: '64KiB' } });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'refusals', kind: 'development' });
    conn = await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    await wharf.createHubSpotConnection(env.apiToken, { portalId: V1_PORTAL, secret: v1Secret, signatureVersions: ['v3', 'v1'] });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

/* Sends `send()` and asserts status, error code, unchanged queue. */
async function refused(send, status, code) {
    const before = await redis.queueCounters();
    const res = await send();
    const afterC = await redis.queueCounters();
    assert.equal(res.status, status, `expected ${status} ${code || ''}, got ${h.show(res)}`);
    if (code) assert.equal(h.errorCode(res), code, `expected error code ${code}, got ${h.show(res)}`);
    assert.ok(res.json && res.json.error && typeof res.json.error.code === 'string' && typeof res.json.error.message === 'string',
        `error body must be {"error":{"code","message"}}: ${h.show(res)}`);
    assert.deepEqual(afterC, before, `the queue changed on a refused request: before ${JSON.stringify(before)} after ${JSON.stringify(afterC)}`);
    return res;
}

const one = (o = {}) => [hubspot.propertyChange('contact', { objectId: 4242, ...o })];

ctx.test('bad signature → 401 invalid_signature', async () => {
    await refused(() => wharf.postHubSpot({ events: one(), secret, signSecret: 'not-the-client-secret' }), 401, 'invalid_signature');
    // signed over another URL (a proxy rebuilding the URL from Host would get this wrong)
    const body = JSON.stringify(one());
    await refused(() => wharf.postHubSpot({
        body, secret, sign: false,
        headers: h.hubspotSignatureHeaders({ secret, url: `http://127.0.0.1:${wharf.port}/webhooks/hubspot`, body }),
    }), 401, 'invalid_signature');
    // signature over a different body
    await refused(() => wharf.postHubSpot({
        body, secret, sign: false,
        headers: h.hubspotSignatureHeaders({ secret, url: `${h.PUBLIC_URL}/webhooks/hubspot`, body: body.replace('a@b.c', 'a@b.d') }),
    }), 401, 'invalid_signature');
    // no signature at all
    await refused(() => wharf.postHubSpot({ events: one(), secret, sign: false }), 401, 'invalid_signature');
    // on the per-connection route too
    await refused(() => wharf.postHubSpot({ path: `/webhooks/hubspot/${conn.connectionId}`, events: one(), secret, signSecret: 'wrong-secret' }), 401, 'invalid_signature');
});

ctx.test('stale timestamp (correctly signed, 5 min + 1 s old or ahead) → 401 stale_timestamp', async () => {
    const old = Date.now() - (5 * 60 + 1) * 1000;
    await refused(() => wharf.postHubSpot({ events: one(), secret, timestamp: old }), 401, 'stale_timestamp');
    const ahead = Date.now() + (5 * 60 + 1) * 1000;
    await refused(() => wharf.postHubSpot({ events: one(), secret, timestamp: ahead }), 401, 'stale_timestamp');
});

ctx.test('v1 signature is refused unless the connection lists v1', async () => {
    await refused(() => wharf.postHubSpot({ events: one(), secret, version: 'v1' }), 401, 'invalid_signature');
});

ctx.test('unknown portal → 404 unknown_connection; unknown connection id → 404 unknown_connection', async () => {
    await refused(() => wharf.postHubSpot({ events: one({ portalId: 99999 }), secret }), 404, 'unknown_connection');
    await refused(() => wharf.postHubSpot({ path: '/webhooks/hubspot/conn_doesnotexist', events: one(), secret }), 404, 'unknown_connection');
});

/* A valid, signed JSON array of exactly `size` bytes. */
function bodyOfSize(size) {
    const ev = one()[0];
    const base = JSON.stringify([{ ...ev, propertyValue: '' }]);
    const body = JSON.stringify([{ ...ev, propertyValue: 'x'.repeat(size - base.length) }]);
    assert.equal(Buffer.byteLength(body), size);
    return body;
}

ctx.test('body over WHARF_MAX_BODY (64KiB + 1 byte) → 413 payload_too_large', async () => {
    await refused(() => wharf.postHubSpot({ body: bodyOfSize(MAX_BODY + 1), secret }), 413, 'payload_too_large');
    await refused(() => wharf.postHubSpot({ body: bodyOfSize(4 * MAX_BODY), secret }), 413, 'payload_too_large');
});

ctx.test('malformed body (not JSON, not an array, empty array) → 400 malformed_payload', async () => {
    for (const body of ['{not json', '{"eventId":1,"portalId":62515}', '[]']) {
        await refused(() => wharf.postHubSpot({ body, secret }), 400, 'malformed_payload');
    }
});

ctx.test('wrong Content-Type → 415', async () => {
    await refused(() => wharf.postHubSpot({ events: one(), secret, contentType: 'text/plain' }), 415);
});

ctx.test('after all refusals, the sink received nothing (1 s grace)', async () => {
    await h.delay(1000);
    assert.equal(sink.requests.length, 0, `the sink received: ${sink.requests.map((r) => r.text).join('\n')}`);
});

ctx.test('control: a valid request on the same setup is accepted and delivered', async () => {
    const before = await redis.queueCounters();
    const res = await wharf.postHubSpot({ events: one({ objectId: 4343 }), secret });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    const afterC = await redis.queueCounters();
    assert.ok(afterC.added > before.added, `a 202 must have queued something: ${JSON.stringify(before)} → ${JSON.stringify(afterC)}`);
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const p = h.verifyDelivery(sink.to('/all')[0], sub.secret);
    assert.equal(p.data.objectId, '4343', `delivered ${JSON.stringify(p)}`);
});

ctx.test('v1 signature is accepted when the connection lists v1', async () => {
    const res = await wharf.postHubSpot({ events: one({ portalId: V1_PORTAL, objectId: 4444 }), secret: v1Secret, version: 'v1' });
    assert.equal(res.status, 202, h.show(res));
});

ctx.test('a body of exactly WHARF_MAX_BODY (64KiB) is accepted', async () => {
    const res = await wharf.postHubSpot({ body: bodyOfSize(MAX_BODY), secret });
    assert.equal(res.status, 202, h.show(res));
});
