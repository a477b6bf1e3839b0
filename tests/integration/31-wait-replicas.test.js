'use strict';
// Scenario 31: WHARF_REDIS_WAIT_REPLICAS with a real replica. A 2xx means the replicas confirmed the request's own
// writes; an unconfirmed WAIT answers 503 queue_unavailable + Retry-After to exactly the requests of that flush (the
// events may already be in Redis: the provider retries and dedupe acknowledges the redelivery). wharf sends one WAIT
// per flush of a gateway thread at most, on a connection of its own, so the thread's other Redis traffic never
// queues behind a WAIT.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('wait-replicas');
// A replica of one server: on a cluster (WHARF_IT_REDIS=cluster) wharf refuses WHARF_REDIS_WAIT_REPLICAS (34-cluster)
const skip = h.CLUSTER ? 'WAIT with replicas is refused on a Redis Cluster (README "Deviations")' : false;
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
let nextObject = 50000;

/* A primary, its replica and a gateway requiring `replicas` confirmations; one HubSpot connection. */
async function setup({ replicas = 1, threads = '2' } = {}) {
    const redis = await ctx.redis();
    const replica = await ctx.replica(redis);
    const gateway = await ctx.wharf({ redis, role: 'gateway', env: { WHARF_REDIS_WAIT_REPLICAS: String(replicas), WHARF_THREADS: threads } });
    const env = await gateway.createEnvironment({ name: 'wait', kind: 'development' });
    await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    return { redis, replica, gateway, env };
}

/* `n` distinct one-event HubSpot bodies. */
function bodies(n) {
    return Array.from({ length: n }, () => {
        const k = nextObject++;
        return JSON.stringify([hubspot.propertyChange('contact', { objectId: k, propertyValue: `u${k}@ex.test` })]);
    });
}

/* All at once, each on its own TCP connection. */
function post(gateway, list) {
    return Promise.all(list.map((body) => gateway.postHubSpot({ body, secret, timeout: 20000 })));
}

function assertUnavailable(res, what) {
    assert.equal(res.status, 503, `${what}: ${h.show(res)}`);
    assert.equal(h.errorCode(res), 'queue_unavailable', `${what}: ${h.show(res)}`);
    assert.ok(Number(res.headers['retry-after']) > 0, `${what}: Retry-After missing (${JSON.stringify(res.headers)})`);
}

ctx.test('a replica attached: 200 concurrent requests are answered 202, their writes are on the replica, at most one WAIT per flush', { skip }, async (t) => {
    const { redis, replica, gateway } = await setup();
    const N = 200;
    const before = await redis.queueCounters();
    await redis.cli('CONFIG', 'RESETSTAT');

    const res = await post(gateway, bodies(N));
    for (const [i, r] of res.entries()) assert.equal(r.status, 202, `request ${i}: ${h.show(r)}`);

    // a 202 means the replica confirmed: the entries are there at once, no waiting
    const onPrimary = await redis.queueCounters();
    const onReplica = await replica.queueCounters();
    assert.equal(onPrimary.added - before.added, N, 'one stream entry per request on the primary');
    assert.equal(onReplica.added, onPrimary.added, 'every acknowledged entry is on the replica when the 202 is sent');

    const stats = await redis.commandStats();
    const waits = stats.wait ? stats.wait.calls : 0;
    const scripts = stats.evalsha ? stats.evalsha.calls : 0;
    t.diagnostic(`${N} requests: ${waits} WAIT, ${scripts} EVALSHA (ingest script calls, ≥ 1 per flush)`);
    assert.ok(waits >= 1, 'WAIT was never sent');
    assert.ok(waits <= scripts, `${waits} WAITs for ${scripts} ingest script calls: more than one WAIT per flush`);
    assert.ok(waits <= N / 4, `${waits} WAITs for ${N} requests: WAIT is not batched per flush`);
});

ctx.test('more replicas asked than attached (WAIT 2, one replica): 503 queue_unavailable + Retry-After', { skip }, async () => {
    const redis = await ctx.redis();
    await ctx.replica(redis);
    const gateway = await ctx.wharf({ redis, role: 'gateway', env: { WHARF_REDIS_WAIT_REPLICAS: '2' } });
    const env = await gateway.createEnvironment({ name: 'wait2', kind: 'development' });
    await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    const res = await post(gateway, bodies(5));
    for (const [i, r] of res.entries()) assertUnavailable(r, `request ${i}`);
});

ctx.test('replica stopped: 503 + Retry-After; the events are in Redis and the provider\'s retry is acknowledged as duplicates', { skip }, async () => {
    const { redis, replica, gateway } = await setup();
    const K = 10;
    await replica.stop();
    await h.waitUntil(async () => (await redis.onlineReplicas()) === 0, { what: 'the primary to see its replica gone' });
    const list = bodies(K);
    const before = await redis.queueCounters();

    const res = await post(gateway, list);
    for (const [i, r] of res.entries()) assertUnavailable(r, `request ${i}`);
    // documented: a 503 acknowledges nothing, yet the writes may have happened (at least once)
    const after = await redis.queueCounters();
    assert.equal(after.added - before.added, K, 'the unconfirmed writes are in the primary');

    // the replica comes back; the provider retries the same bodies: dedupe acknowledges them, nothing is queued twice
    await replica.start();
    const retry = await post(gateway, list);
    for (const [i, r] of retry.entries()) {
        assert.equal(r.status, 202, `retry ${i}: ${h.show(r)}`);
        assert.deepEqual(r.json, { accepted: 1, duplicates: 1 }, `retry ${i}: ${h.show(r)}`);
    }
    assert.equal((await redis.queueCounters()).added, after.added, 'a retried event is not queued again');
});

ctx.test('replica frozen (connected, acknowledging nothing): 503 + Retry-After, and the thread\'s Redis connection is not blocked by WAIT', { skip }, async () => {
    // one thread, so the API call below shares the ingest requests' thread and its Redis connection
    const { replica, gateway, env } = await setup({ threads: '1' });
    const K = 10;
    replica.freeze();
    try {
        const pending = post(gateway, bodies(K));
        await h.delay(200); // the writes are in and their WAIT is blocked on the frozen replica
        const probe = await gateway.api('GET', '/v1/connections', { token: env.apiToken, timeout: 20000 });
        assert.equal(probe.status, 200, h.show(probe));
        // queued behind the blocked WAIT it would take its 1 000 ms timeout; valgrind slows the read itself
        const bound = h.VALGRIND ? 800 : 500;
        assert.ok(probe.ms < bound, `a Redis read on the ingest thread took ${probe.ms} ms: it queued behind a WAIT`);
        const res = await pending;
        for (const [i, r] of res.entries()) assertUnavailable(r, `request ${i}`);
    } finally {
        replica.thaw();
    }
});
