'use strict';
// Scenario 8: with Redis down, ingest answers 503 queue_unavailable + Retry-After (nothing acknowledged)
// and /readyz 503; once Redis is back (same port, same AOF), wharf reconnects: 202 and deliveries resume.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('redis-down');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    const env = await wharf.createEnvironment({ name: 'redis-down', kind: 'development' });
    await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
    // baseline: the pipeline works before we pull the plug
    const res = await wharf.postHubSpot({ events: [hubspot.creation('contact', { objectId: 900 })], secret });
    if (res.status !== 202) throw new Error(`baseline ingest: ${h.show(res)}`);
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
});

ctx.test('Redis stopped → /readyz 503, ingest 503 queue_unavailable with Retry-After, /healthz 200', async () => {
    await redis.stop();
    await h.waitUntil(async () => (await h.request(wharf.url('/readyz'), { timeout: 2000 })).status === 503,
        { timeout: 10000, what: '/readyz -> 503 after Redis stopped', procs: [wharf.proc] });
    const hz = await h.request(wharf.url('/healthz'));
    assert.equal(hz.status, 200, `/healthz with Redis down: ${h.show(hz)}`);

    // HubSpot gives up after 5 s: the refusal must come well within that
    const res = await wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 901 })], secret, timeout: 5000 });
    assert.equal(res.status, 503, h.show(res));
    assert.equal(h.errorCode(res), 'queue_unavailable', h.show(res));
    const ra = res.headers['retry-after'];
    assert.ok(ra !== undefined, `no Retry-After header: ${JSON.stringify(res.headers)}`);
    assert.ok(/^\d+$/.test(ra) || !Number.isNaN(Date.parse(ra)), `Retry-After is neither seconds nor an HTTP date: ${ra}`);
    assert.equal(wharf.proc.exited, false, `wharf exited with Redis down (${wharf.proc.exited && wharf.proc.exitDescription()})`);
});

ctx.test('Redis back → /readyz 200 and ingest 202 again (the client reconnects)', async () => {
    await redis.start();
    await h.waitUntil(async () => (await h.request(wharf.url('/readyz'), { timeout: 2000 })).status === 200,
        { timeout: 15000, what: '/readyz -> 200 after Redis restarted', procs: [wharf.proc] });
    const res = await wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 902 })], secret });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
});

ctx.test('after the restart, the worker delivers again (and the refused event was never delivered)', async () => {
    await h.waitUntil(() => sink.to('/all').some((r) => r.json?.data?.objectId === '902'),
        { timeout: 15000, what: 'delivery of object 902 after Redis restarted', procs: [wharf.proc] });
    for (const r of sink.to('/all')) h.verifyDelivery(r, sub.secret);
    await h.delay(500);
    const refused = sink.to('/all').filter((r) => r.json?.data?.objectId === '901');
    assert.equal(refused.length, 0, 'the event answered 503 was delivered anyway (it was acknowledged as not taken)');
});
