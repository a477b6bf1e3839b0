'use strict';
// Scenario 5: a redelivered HubSpot event is acknowledged again (202) but queued and delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('dedupe');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    const env = await wharf.createEnvironment({ name: 'dedupe', kind: 'development' });
    await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

const deliveriesOf = (objectId) => sink.to('/all').filter((r) => r.json && r.json.data && r.json.data.objectId === String(objectId));

ctx.test('the same events posted twice (fresh timestamp and signature) → 202 twice, queued once, delivered once', async () => {
    const events = [
        hubspot.propertyChange('contact', { objectId: 501, propertyName: 'email', propertyValue: 'dup@b.c' }),
        hubspot.creation('deal', { objectId: 502 }),
    ];
    const body = JSON.stringify(events);
    const c0 = await redis.queueCounters();
    const first = await wharf.postHubSpot({ body, secret });
    assert.equal(first.status, 202, `first post: ${h.show(first)}`);
    assert.deepEqual(first.json, { accepted: 2 }, `first post: ${h.show(first)}`);
    const c1 = await redis.queueCounters();
    assert.ok(c1.added > c0.added, `the first post queued nothing: ${JSON.stringify(c0)} → ${JSON.stringify(c1)}`);

    await h.delay(5); // a different X-HubSpot-Request-Timestamp, hence a different signature
    const second = await wharf.postHubSpot({ body, secret });
    assert.equal(second.status, 202, `redelivery: ${h.show(second)}`);
    const c2 = await redis.queueCounters();
    assert.equal(c2.added, c1.added, `the redelivery queued again: entries-added ${c1.added} → ${c2.added} (answer ${second.text})`);

    await sink.waitFor('/all', 2, { procs: [wharf.proc] });
    await h.delay(1500); // quiet period: a duplicate would arrive within it
    assert.equal(deliveriesOf(501).length, 1, `object 501 delivered ${deliveriesOf(501).length}×`);
    assert.equal(deliveriesOf(502).length, 1, `object 502 delivered ${deliveriesOf(502).length}×`);
    for (const r of sink.to('/all')) h.verifyDelivery(r, sub.secret);
});

ctx.test('a HubSpot retry of a delivered event (same eventId, attemptNumber 1) is not delivered again', async () => {
    const ev = hubspot.propertyChange('contact', { objectId: 601, propertyName: 'phone', propertyValue: '+33 1 23' });
    const first = await wharf.postHubSpot({ events: [ev], secret });
    assert.equal(first.status, 202, `first post: ${h.show(first)}`);
    await h.waitUntil(() => deliveriesOf(601).length >= 1, { timeout: 15000, what: 'first delivery of object 601', procs: [wharf.proc] });
    const retry = await wharf.postHubSpot({ events: [{ ...ev, attemptNumber: 1 }], secret });
    assert.equal(retry.status, 202, `HubSpot retry: ${h.show(retry)}`);
    await h.delay(1500);
    assert.equal(deliveriesOf(601).length, 1, `object 601 delivered ${deliveriesOf(601).length}×`);
});

ctx.test('a batch mixing a seen event and a new one delivers only the new one', async () => {
    const seen = hubspot.propertyChange('contact', { objectId: 701, propertyName: 'email', propertyValue: 'm@b.c' });
    const r1 = await wharf.postHubSpot({ events: [seen], secret });
    assert.equal(r1.status, 202, h.show(r1));
    const fresh = hubspot.creation('contact', { objectId: 702 });
    const r2 = await wharf.postHubSpot({ events: [seen, fresh], secret });
    assert.equal(r2.status, 202, h.show(r2));
    await h.waitUntil(() => deliveriesOf(702).length >= 1, { timeout: 15000, what: 'delivery of object 702', procs: [wharf.proc] });
    await h.delay(1500);
    assert.equal(deliveriesOf(701).length, 1, `object 701 delivered ${deliveriesOf(701).length}×`);
    assert.equal(deliveriesOf(702).length, 1, `object 702 delivered ${deliveriesOf(702).length}×`);
});
