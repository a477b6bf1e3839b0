'use strict';
// Scenario 10: the egress guard (design §7). With WHARF_ALLOW_PRIVATE_DESTINATIONS=0 a delivery to a
// destination that is, or resolves to, loopback, private, link-local or metadata space is refused on the
// address curl would connect to, before any connect: the sink on 127.0.0.1 never sees a connection, and an
// unroutable private address fails at once rather than after a TCP timeout.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('egress');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let wharf, sink, env;
let sinkConnections = 0;

ctx.before(async () => {
    const redis = await ctx.redis();
    // A long delivery timeout: a destination that got as far as a connect attempt would show up as a
    // timeout or a connect error long after the refusals this test waits for.
    wharf = await ctx.wharf({ redis, env: { WHARF_ALLOW_PRIVATE_DESTINATIONS: '0', WHARF_DELIVERY_TIMEOUT: '10s' } });
    sink = await ctx.sink();
    sink.server.on('connection', () => { sinkConnections++; });
    env = await wharf.createEnvironment({ name: 'egress', kind: 'development' });
    await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
});

/* The worker's delivery_failed log lines (JSON lines on stderr) whose deliveryId is not in `skip`. */
function failures() {
    const out = [];
    for (const line of wharf.proc.log().split('\n')) {
        if (!line.includes('"delivery_failed"')) continue;
        let j;
        try { j = JSON.parse(line); } catch { continue; }
        if (j.event === 'delivery_failed') out.push(j);
    }
    return out;
}

ctx.test('plain http destinations are refused by the API when private destinations are not allowed', async () => {
    const res = await wharf.api('POST', '/v1/subscriptions', {
        token: env.apiToken, json: { url: sink.url('/plain'), eventTypes: ['*'] },
    });
    assert.equal(res.status, 400, h.show(res));
    assert.match(JSON.stringify(res.json), /https/, h.show(res));
});

ctx.test('deliveries to loopback, private, metadata and localhost are refused before connecting', async () => {
    const targets = [
        `https://127.0.0.1:${sink.port}/`,
        'https://10.0.0.1/',
        'https://169.254.169.254/latest/meta-data/',
        `https://localhost:${sink.port}/`,
    ];
    for (const url of targets) await wharf.createSubscription(env.apiToken, { url, eventTypes: ['crm.contact.*'] });
    const before = failures().length;

    const sent = Date.now();
    const res = await wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 1001 })], secret });
    assert.equal(res.status, 202, h.show(res));

    // Every subscription's first attempt fails with the refusal within a couple of seconds: no connect
    // (10.0.0.1 would otherwise wait for the 10 s delivery timeout or a TCP timeout).
    const firstAttempts = () => failures().slice(before).filter((f) => f.attempt === 1);
    await h.waitUntil(() => new Set(firstAttempts().map((f) => f.deliveryId)).size >= targets.length,
        { timeout: 3000, what: `${targets.length} first attempts logged as delivery_failed`, procs: [wharf.proc] });
    const elapsed = Date.now() - sent;
    assert.ok(elapsed < 3000, `refusals took ${elapsed} ms`);

    const first = firstAttempts();
    for (const f of first) {
        assert.match(f.error, /^destination address refused: /, `not a refusal: ${JSON.stringify(f)}`);
        assert.equal(f.status, 0, JSON.stringify(f));
    }
    const errors = first.map((f) => f.error);
    assert.ok(errors.includes('destination address refused: 10.0.0.1 (private)'), errors.join('\n'));
    assert.ok(errors.includes('destination address refused: 169.254.169.254 (metadata)'), errors.join('\n'));
    const loopback = errors.filter((e) => / \(loopback\)$/.test(e));
    assert.equal(loopback.length, 2, `127.0.0.1 and localhost: ${errors.join('\n')}`);

    // The retries (WHARF_RETRY_SCHEDULE=300ms ×3) are refused the same way, down to the dead letter.
    await h.waitUntil(() => failures().slice(before).filter((f) => f.next === 'dead').length >= targets.length,
        { timeout: 6000, what: 'every delivery dead-lettered', procs: [wharf.proc] });
    for (const f of failures().slice(before)) {
        assert.match(f.error, /^destination address refused: /, `not a refusal: ${JSON.stringify(f)}`);
    }
    assert.equal(sink.requests.length, 0, `the sink received ${sink.requests.length} request(s)`);
    assert.equal(sinkConnections, 0, `the sink accepted ${sinkConnections} connection(s)`);

    // and the attempt log says so: every attempt of the event is a refusal, none has a status code
    const list = await wharf.api('GET', '/v1/events?limit=1', { token: env.apiToken });
    assert.equal(list.status, 200, h.show(list));
    const eventId = list.json.events[0].eventId;
    const att = await wharf.api('GET', `/v1/events/${eventId}/attempts`, { token: env.apiToken });
    assert.equal(att.status, 200, h.show(att));
    assert.equal(att.json.attempts.length, targets.length * 4, h.show(att));
    for (const a of att.json.attempts) {
        assert.equal(a.error, 'destination_refused', JSON.stringify(a));
        assert.equal(a.statusCode, undefined, JSON.stringify(a));
    }
});
