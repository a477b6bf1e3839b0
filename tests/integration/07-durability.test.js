'use strict';
// Scenario 7: gateway and worker as separate processes; the worker is SIGKILLed while deliveries are in
// flight; a second worker takes over (WHARF_RECLAIM_IDLE=1s) and every acknowledged event is delivered
// at least once (duplicates allowed, reported).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('durability');
const N = 200;
const BATCH = 20;
const SINK_DELAY_MS = 50;
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;

ctx.test(`worker SIGKILL mid-run: all ${N} acknowledged events are delivered`, { timeout: 120000 }, async (t) => {
    const redis = await ctx.redis();
    const gateway = await ctx.wharf({ redis, role: 'gateway', name: 'gateway' });
    const sink = await ctx.sink();
    sink.script('/hook', [{ status: 200, delayMs: SINK_DELAY_MS }]);
    const env = await gateway.createEnvironment({ name: 'durability', kind: 'development' });
    await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    const sub = await gateway.createSubscription(env.apiToken, { url: sink.url('/hook'), eventTypes: ['*'] });
    const workerEnv = { WHARF_ADMIN_TOKEN: gateway.env.WHARF_ADMIN_TOKEN };
    const worker1 = await ctx.wharf({ redis, role: 'worker', name: 'worker-1', env: workerEnv });

    // N distinct events, objectId 10000..10000+N-1, all acknowledged before the kill
    const t0 = Date.now() - 60000;
    for (let b = 0; b < N / BATCH; b++) {
        const events = [];
        for (let i = 0; i < BATCH; i++) {
            const k = b * BATCH + i;
            events.push(hubspot.propertyChange('contact', { objectId: 10000 + k, propertyName: 'email', propertyValue: `u${k}@ex.test`, occurredAt: t0 + k }));
        }
        const res = await gateway.postHubSpot({ events, secret });
        assert.equal(res.status, 202, `batch ${b}: ${h.show(res)}`);
        assert.deepEqual(res.json, { accepted: BATCH }, `batch ${b}: ${h.show(res)}`);
    }

    const distinct = () => new Set(sink.to('/hook').map((r) => r.json?.data?.objectId)).size;
    await h.waitUntil(() => sink.to('/hook').length >= 20,
        { timeout: 20000, what: 'the first 20 deliveries from worker-1', procs: [gateway.proc, worker1.proc] });
    worker1.proc.kill('SIGKILL');
    const killedAt = Date.now();
    const atKill = distinct();
    const recsAtKill = sink.to('/hook').length;
    await worker1.proc.waitExit(5000);
    t.diagnostic(`worker-1 SIGKILLed after ${atKill} distinct deliveries`);
    assert.ok(atKill < N, `worker-1 delivered all ${N} events before it could be killed: the test proved nothing (raise N or the sink delay)`);

    const worker2 = await ctx.wharf({ redis, role: 'worker', name: 'worker-2', env: workerEnv });
    await h.waitUntil(() => distinct() >= N,
        { timeout: 60000, what: `all ${N} events delivered after the takeover (have ${distinct()})`, procs: [gateway.proc, worker2.proc] });
    const doneAt = Date.now();
    await h.delay(1000);

    const recs = sink.to('/hook');
    const afterKill = recs.slice(recsAtKill);
    t.diagnostic(`after the kill: first delivery +${afterKill.length ? afterKill[0].at - killedAt : '-'} ms, ` +
        `all ${N} delivered +${doneAt - killedAt} ms (${afterKill.length} deliveries after the kill)`);
    const byObject = new Map();
    for (const r of recs) {
        const p = h.verifyDelivery(r, sub.secret);
        const id = p.data.objectId;
        if (!byObject.has(id)) byObject.set(id, []);
        byObject.get(id).push(r.headers['webhook-id']);
    }
    const missing = [];
    for (let k = 0; k < N; k++) if (!byObject.has(String(10000 + k))) missing.push(10000 + k);
    assert.deepEqual(missing, [], `events never delivered: ${missing.join(',')}`);
    const dups = [...byObject].filter(([, ids]) => ids.length > 1);
    t.diagnostic(`${recs.length} deliveries for ${N} events: ${dups.length} event(s) delivered more than once`);
    const changedId = dups.filter(([, ids]) => new Set(ids).size > 1);
    assert.deepEqual(changedId.map(([id]) => id), [], 'a redelivered event must keep its webhook-id (receivers dedupe on it)');
});

for (const when of ['at once', 'after its entry settled']) {
    ctx.test(`worker SIGKILLed while an attempt is in flight (${when}): another worker makes the delivery (at least once)`, { timeout: 60000 }, async () => {
        const redis = await ctx.redis();
        const gateway = await ctx.wharf({ redis, role: 'gateway', name: 'gateway-b' });
        const sink = await ctx.sink();
        // the first attempt hangs: the worker dies with it in flight
        sink.script('/inflight', [{ hang: true }, { status: 200 }]);
        const env = await gateway.createEnvironment({ name: 'inflight', kind: 'development' });
        await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
        const sub = await gateway.createSubscription(env.apiToken, { url: sink.url('/inflight'), eventTypes: ['*'] });
        const workerEnv = { WHARF_ADMIN_TOKEN: gateway.env.WHARF_ADMIN_TOKEN, WHARF_DELIVERY_TIMEOUT: '10s' };
        const worker1 = await ctx.wharf({ redis, role: 'worker', name: 'worker-b1', env: workerEnv });
        const res = await gateway.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 4242 })], secret });
        assert.equal(res.status, 202, h.show(res));
        await sink.waitFor('/inflight', 1, { procs: [gateway.proc, worker1.proc] });
        const dueTasks = async () => {
            let n = 0;
            for (let p = 0; p < h.PARTITIONS; p++) n += Number(await redis.cli('ZCARD', `wh:dq:{p${p}}`));
            return n;
        };
        if (when !== 'at once') {
            // the entry's first attempt outlasts its settling wait (WHARF_RECLAIM_IDLE / 4): its task is written
            // to Redis leased, and the stream entry is acknowledged
            await h.waitUntil(async () => (await dueTasks()) === 1, { timeout: 10000, procs: [worker1.proc], what: 'the in-flight delivery leased in Redis' });
        }
        worker1.proc.kill('SIGKILL');
        await worker1.proc.waitExit(5000);
        const worker2 = await ctx.wharf({ redis, role: 'worker', name: 'worker-b2', env: workerEnv });
        await sink.waitFor('/inflight', 2, { timeout: 30000, procs: [gateway.proc, worker2.proc] });
        const [first, second] = sink.to('/inflight');
        assert.equal(second.headers['webhook-id'], first.headers['webhook-id'], 'the takeover must reuse the webhook-id');
        // killed before its entry settled, the entry is still pending: another worker reclaims it once it has been
        // idle for WHARF_RECLAIM_IDLE (1 s); killed after, the task's lease (WHARF_DELIVERY_TIMEOUT +
        // WHARF_RECLAIM_IDLE = 11 s) must end first. Never sooner: a live worker's attempt is never duplicated.
        const floor = when === 'at once' ? 1000 : 10000;
        assert.ok(second.at - first.at >= floor, `taken over after ${second.at - first.at} ms: before ${floor} ms`);
        h.verifyDelivery(second, sub.secret);
    });
}

/*
 * The ledger: a provider-like sender (a request without a 2xx is sent again, as HubSpot does) keeps sending
 * distinct events while Redis (appendfsync always) and then the worker are killed with SIGKILL and restarted.
 * Every event the sender got a 2xx for must reach the sink; duplicates are allowed (at least once) and reported.
 */
ctx.test('Redis and the worker SIGKILLed under load (AOF always): every acknowledged event reaches the sink', { timeout: 180000 }, async (t) => {
    const TOTAL = h.VALGRIND ? 150 : 600;
    const PER = 3;
    const redis = await ctx.redis({ args: ['--appendfsync', 'always'] });
    const gateway = await ctx.wharf({ redis, role: 'gateway', name: 'gateway-ledger' });
    const sink = await ctx.sink();
    sink.script('/ledger', [{ status: 200, delayMs: 5 }]);
    const env = await gateway.createEnvironment({ name: 'ledger', kind: 'development' });
    await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    await gateway.createSubscription(env.apiToken, { url: sink.url('/ledger'), eventTypes: ['*'], maxConcurrency: 8 });
    const workerEnv = { WHARF_ADMIN_TOKEN: gateway.env.WHARF_ADMIN_TOKEN };
    let worker = await ctx.wharf({ redis, role: 'worker', name: 'worker-ledger-1', env: workerEnv });

    const l = h.ledger(gateway, { total: TOTAL, per: PER, base: 50000, secret });
    let redisKilled = false, workerKilled = false;
    const faults = (async () => {
        await h.waitUntil(() => l.acked.size >= TOTAL / 3, { timeout: 60000, what: 'a third of the events acknowledged' });
        redis.proc.kill('SIGKILL');
        await redis.proc.waitExit(5000);
        redisKilled = true;
        await h.delay(300);
        await redis.start();
        await h.waitUntil(() => l.acked.size >= (2 * TOTAL) / 3, { timeout: 60000, what: 'two thirds of the events acknowledged' });
        worker.proc.kill('SIGKILL');
        await worker.proc.waitExit(5000);
        workerKilled = true;
        worker = await ctx.wharf({ redis, role: 'worker', name: 'worker-ledger-2', env: workerEnv });
    })();
    await Promise.all([l.run(), faults]);
    assert.ok(redisKilled && workerKilled, 'both faults were injected');
    assert.equal(l.acked.size, TOTAL);
    await h.assertLedgerDelivered(t, sink, '/ledger', l, [gateway.proc, worker.proc]);
});
