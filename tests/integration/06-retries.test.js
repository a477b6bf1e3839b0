'use strict';
// Scenario 6: failed deliveries are retried per WHARF_RETRY_SCHEDULE with the same webhook-id and a
// fresh valid signature each time; after the last attempt they stop (dead letter).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('retries');

/* redis + wharf (given schedule) + sink + env + HubSpot connection + subscription to `path`. */
async function stack(schedule, path, answers) {
    const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis, env: { WHARF_RETRY_SCHEDULE: schedule } });
    const sink = await ctx.sink();
    sink.script(path, answers);
    const env = await wharf.createEnvironment({ name: 'retries', kind: 'development' });
    await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    const sub = await wharf.createSubscription(env.apiToken, { url: sink.url(path), eventTypes: ['crm.contact.*'] });
    return { secret, redis, wharf, sink, env, sub };
}

/* Every attempt verifies, and all carry one webhook-id; returns the parsed payloads. */
function checkAttempts(recs, sub) {
    const payloads = recs.map((r, i) => {
        const p = h.verifyDelivery(r, sub.secret);
        const ts = Number(r.headers['webhook-timestamp']);
        assert.ok(Math.abs(ts - r.at / 1000) <= 5, `attempt ${i + 1}: webhook-timestamp ${ts} is not the time of that attempt (${Math.round(r.at / 1000)})`);
        return p;
    });
    const ids = new Set(recs.map((r) => r.headers['webhook-id']));
    assert.equal(ids.size, 1, `retries must reuse one webhook-id, got ${JSON.stringify([...ids])}`);
    assert.equal(new Set(payloads.map((p) => p.data.eventId)).size, 1, 'retries must carry one eventId');
    for (let i = 1; i < recs.length; i++) {
        const gap = recs[i].at - recs[i - 1].at;
        assert.ok(gap >= 200, `attempt ${i + 1} came ${gap} ms after attempt ${i}; the schedule says 300 ms ±20 %`);
    }
    return payloads;
}

ctx.test('sink answers 500, 500, 200 → three attempts, one webhook-id, then no more', async () => {
    const s = await stack('300ms,300ms,300ms', '/flaky', [{ status: 500 }, { status: 500 }, { status: 200 }]);
    const res = await s.wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 801 })], secret: s.secret });
    assert.equal(res.status, 202, h.show(res));
    await s.sink.waitFor('/flaky', 3, { procs: [s.wharf.proc] });
    await h.delay(1500); // the schedule has a 3rd retry: it must not be used after the 200
    const recs = s.sink.to('/flaky');
    assert.equal(recs.length, 3, `expected exactly 3 attempts, got ${recs.length} (answers: ${recs.map((r) => r.answer.status).join(',')})`);
    checkAttempts(recs, s.sub);
});

let dead;
ctx.test('sink always answers 500, WHARF_RETRY_SCHEDULE=300ms,300ms → exactly 3 attempts (1 + 2 retries)', async () => {
    dead = await stack('300ms,300ms', '/down', [{ status: 500 }]);
    const res = await dead.wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 802 })], secret: dead.secret });
    assert.equal(res.status, 202, h.show(res));
    await dead.sink.waitFor('/down', 3, { procs: [dead.wharf.proc] });
    await h.delay(2500); // > 2 × the longest jittered delay: a 4th attempt would have come
    const recs = dead.sink.to('/down');
    assert.equal(recs.length, 3, `expected exactly 3 attempts, got ${recs.length}`);
    checkAttempts(recs, dead.sub);
});

ctx.test('a hanging endpoint is cut at WHARF_DELIVERY_TIMEOUT (2s) and retried; another endpoint is not delayed', async () => {
    const s = await stack('300ms,300ms,300ms', '/hang', [{ hang: true }, { status: 200 }]);
    const fast = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/fast'), eventTypes: ['crm.contact.*'] });
    const sent = Date.now();
    const res = await s.wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 803 })], secret: s.secret });
    assert.equal(res.status, 202, h.show(res));
    await s.sink.waitFor('/fast', 1, { timeout: 1500, procs: [s.wharf.proc] });
    h.verifyDelivery(s.sink.to('/fast')[0], fast.secret);
    assert.ok(s.sink.to('/fast')[0].at - sent < 1500, 'the healthy endpoint waited behind the hanging one');
    await s.sink.waitFor('/hang', 2, { timeout: 10000, procs: [s.wharf.proc] });
    const [a, b] = s.sink.to('/hang');
    const gap = b.at - a.at;
    assert.ok(gap >= 1900, `the retry came ${gap} ms after the hanging attempt: before WHARF_DELIVERY_TIMEOUT=2s`);
    assert.ok(gap < 6000, `the retry came ${gap} ms after the hanging attempt: timeout 2s + 300 ms ±20 % expected`);
    assert.equal(a.headers['webhook-id'], b.headers['webhook-id'], 'the retry after a timeout must keep the webhook-id');
    h.verifyDelivery(a, s.sub.secret);
    h.verifyDelivery(b, s.sub.secret);
});
