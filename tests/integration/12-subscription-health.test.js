'use strict';
// Scenario 12: receivers decide how hard wharf pushes. 410 Gone disables a subscription at once (no further
// attempts) and tells the environment's other subscriptions with system.subscription.disabled; enable brings it
// back. A subscription that has only failed for WHARF_DISABLE_AFTER is disabled too. 429 and timeouts wait at
// least WHARF_THROTTLE_FLOOR. rotate-secret makes every delivery carry two signatures, each verified by the
// official standardwebhooks and svix libraries with its own secret.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('subscription-health');

async function stack(env = {}) {
    const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis, env: { WHARF_RETRY_SCHEDULE: '300ms,300ms,300ms', ...env } });
    const sink = await ctx.sink();
    const e = await wharf.createEnvironment({ name: 'health', kind: 'development' });
    await wharf.createHubSpotConnection(e.apiToken, { portalId: hubspot.PORTAL, secret });
    let n = 900;
    const send = async () => {
        const res = await wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: ++n })], secret });
        assert.equal(res.status, 202, h.show(res));
        return n;
    };
    return { redis, wharf, sink, env: e, send };
}

async function getSub(s, sub) {
    const res = await s.wharf.api('GET', `/v1/subscriptions/${sub.subscriptionId}`, { token: s.env.apiToken });
    assert.equal(res.status, 200, h.show(res));
    return res.json;
}

ctx.test('410 Gone → disabled at once, no further attempts, system.subscription.disabled to the others; enable restores', async () => {
    const s = await stack();
    s.sink.script('/gone', [{ status: 410 }, { status: 200 }]);
    const gone = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/gone'), eventTypes: ['crm.contact.*'] });
    const watcher = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/system'), eventTypes: ['system.*'] });
    await s.send();
    await s.sink.waitFor('/gone', 1, { procs: [s.wharf.proc] });
    await s.sink.waitFor('/system', 1, { procs: [s.wharf.proc] });
    const note = h.verifyDelivery(s.sink.to('/system')[0], watcher.secret);
    assert.equal(note.type, 'system.subscription.disabled', JSON.stringify(note));
    assert.equal(note.data.subscriptionId, gone.subscriptionId, JSON.stringify(note));
    assert.match(note.data.reason, /410/, JSON.stringify(note));
    const got = await getSub(s, gone);
    assert.equal(got.status, 'disabled', JSON.stringify(got));
    assert.match(got.disabledReason, /410/, JSON.stringify(got));

    // no retry of the 410, and new events do not go out while disabled
    await s.send();
    await h.delay(1500);
    assert.equal(s.sink.to('/gone').length, 1, 'a disabled subscription received more attempts');
    assert.equal(s.sink.to('/system').length, 1, 'system.subscription.disabled must be emitted once');

    const enabled = await s.wharf.api('POST', `/v1/subscriptions/${gone.subscriptionId}/enable`, { token: s.env.apiToken });
    assert.equal(enabled.status, 200, h.show(enabled));
    assert.equal(enabled.json.status, 'active', h.show(enabled));
    assert.equal(enabled.json.disabledReason, undefined, h.show(enabled));
    assert.equal(enabled.json.secret, undefined, 'enable must not show the secret');
    const id = await s.send();
    await h.waitUntil(() => s.sink.to('/gone').some((r) => r.json?.data?.objectId === String(id)),
        { what: 'a delivery after enable', procs: [s.wharf.proc] });
    h.verifyDelivery(s.sink.to('/gone').at(-1), gone.secret);

    const other = await s.wharf.createEnvironment({ name: 'other', kind: 'development' });
    const res = await s.wharf.api('POST', `/v1/subscriptions/${gone.subscriptionId}/enable`, { token: other.apiToken });
    assert.equal(res.status, 404, `another environment enabled it: ${h.show(res)}`);
});

ctx.test('only failures for WHARF_DISABLE_AFTER → disabled ("deliveries failing")', async () => {
    const s = await stack({ WHARF_DISABLE_AFTER: '1s', WHARF_RETRY_SCHEDULE: '400ms,400ms,400ms,400ms,400ms' });
    s.sink.script('/down', [{ status: 500 }]);
    const sub = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/down'), eventTypes: ['crm.contact.*'] });
    await s.send();
    await h.waitUntil(async () => (await getSub(s, sub)).status === 'disabled',
        { what: 'the failing subscription disabled', timeout: 10000, procs: [s.wharf.proc] });
    const got = await getSub(s, sub);
    assert.match(got.disabledReason, /failing/, JSON.stringify(got));
    const attempts = s.sink.to('/down').length;
    assert.ok(attempts >= 2, `disabled after ${attempts} attempt(s): the streak must span WHARF_DISABLE_AFTER`);
    await h.delay(1200);
    assert.equal(s.sink.to('/down').length, attempts, 'attempts went on after disabling');
});

ctx.test('429 → the next attempt waits WHARF_THROTTLE_FLOOR, not the 300 ms step', async () => {
    const s = await stack({ WHARF_THROTTLE_FLOOR: '2s' });
    s.sink.script('/busy', [{ status: 429 }, { status: 200 }]);
    await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/busy'), eventTypes: ['crm.contact.*'] });
    await s.send();
    await s.sink.waitFor('/busy', 2, { timeout: 10000, procs: [s.wharf.proc] });
    const [a, b] = s.sink.to('/busy');
    assert.ok(b.at - a.at >= 1900, `retried ${b.at - a.at} ms after a 429: the floor is 2 s`);
});

ctx.test('rotate-secret → new secret shown once; deliveries carry both signatures, each verifies alone', async () => {
    const s = await stack();
    const sub = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/rot'), eventTypes: ['crm.contact.*'] });
    const rotated = await s.wharf.api('POST', `/v1/subscriptions/${sub.subscriptionId}/rotate-secret`, { token: s.env.apiToken });
    assert.equal(rotated.status, 200, h.show(rotated));
    const fresh = rotated.json.secret;
    assert.match(fresh, /^whsec_[A-Za-z0-9+/=]+$/, h.show(rotated));
    assert.notEqual(fresh, sub.secret);
    assert.ok(Date.parse(rotated.json.previousSecretValidUntil) > Date.now() + 23 * 3600e3, h.show(rotated));
    const shown = await getSub(s, sub);
    assert.equal(shown.secret, undefined, 'GET must not show the secret');
    assert.equal(shown.previousSecret, undefined, 'GET must not show the previous secret');

    await s.send();
    await s.sink.waitFor('/rot', 1, { procs: [s.wharf.proc] });
    const rec = s.sink.to('/rot')[0];
    const sigs = rec.headers['webhook-signature'].split(' ');
    assert.equal(sigs.length, 2, `expected two signatures, got ${rec.headers['webhook-signature']}`);
    h.verifyDelivery(rec, fresh); // standardwebhooks and svix, new secret
    h.verifyDelivery(rec, sub.secret); // and the old one, for receivers not switched yet
    assert.throws(() => new h.Webhook(`whsec_${crypto.randomBytes(24).toString('base64')}`).verify(rec.text, rec.headers));
});
