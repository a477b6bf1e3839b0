'use strict';
// Scenario 34: wharf on a real 3-master Redis Cluster under load (whatever WHARF_IT_REDIS says). Given one
// master's address, wharf finds the cluster on its own. A provider-like sender (a request without a 2xx is sent
// again, as HubSpot does) keeps sending distinct events while
//   - the slots of half the partition streams (and of the connection's keys) move to another master, keys and
//     consumer groups with them (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE: ASK, TRYAGAIN and MOVED under load);
//   - a master is SIGKILLed (appendfsync always) and restarted, its slots unavailable meanwhile;
//   - a master fails over to its replica (CLUSTER FAILOVER, a manual failover: no acknowledged write is lost).
// The ledger: every event the sender got a 2xx for reaches the sink (at least once; duplicates reported).
// And a deployment asking for WAIT on replicas is refused on a cluster (not supported there yet).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('cluster');
const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
// the whole suite already runs on a cluster with WHARF_IT_REDIS=cluster; this file starts its own either way
const skip = h.CLUSTER ? 'runs once, in the standalone pass (it starts its own cluster)' : false;

async function stack(cluster) {
    const gateway = await ctx.wharf({ redis: cluster, role: 'gateway', name: `gateway-${crypto.randomBytes(2).toString('hex')}` });
    const sink = await ctx.sink();
    sink.script('/ledger', [{ status: 200, delayMs: 2 }]);
    const env = await gateway.createEnvironment({ name: 'cluster', kind: 'development' });
    const conn = await gateway.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    await gateway.createSubscription(env.apiToken, { url: sink.url('/ledger'), eventTypes: ['*'], maxConcurrency: 16 });
    const workerEnv = { WHARF_ADMIN_TOKEN: gateway.env.WHARF_ADMIN_TOKEN };
    const workers = [];
    for (let i = 0; i < 2; i++) workers.push(await ctx.wharf({ redis: cluster, role: 'worker', env: workerEnv }));
    // the connection's events all go to one partition: its stream's master is the one a fault must hit
    const stream = `wh:q:{p${h.partitionOf(conn.connectionId)}}`;
    return { gateway, sink, env, workers, stream };
}

ctx.test('slots move between masters under load: every acknowledged event reaches the sink', { skip, timeout: 240000 }, async (t) => {
    const cluster = await ctx.cluster();
    const s = await stack(cluster);
    const TOTAL = h.VALGRIND ? 150 : 900;
    const l = h.ledger(s.gateway, { total: TOTAL, base: 100000, secret });
    let moved = 0;
    const reshard = (async () => {
        await h.waitUntil(() => l.acked.size >= TOTAL / 6, { timeout: 60000, what: 'a sixth of the events acknowledged' });
        // the partition streams (with their consumer groups, dedupe sets, delivery tasks…) of p0..p3, and the
        // connection's own slot, each to the next master
        const keys = [0, 1, 2, 3].map((p) => `wh:q:{p${p}}`);
        const masters = await cluster.masters();
        for (const key of keys) {
            const slot = await cluster.slotOf(key);
            const from = await cluster.masterOf(slot);
            const to = masters[(masters.indexOf(from) + 1) % masters.length];
            await cluster.migrateSlot(slot, from, to);
            moved += 1;
            await h.delay(200);
        }
    })();
    await Promise.all([l.run(), reshard]);
    assert.equal(moved, 4);
    assert.equal(l.acked.size, TOTAL);
    // the moves were seen: some command was answered MOVED (or ASK) and followed
    const redirected = [s.gateway, ...s.workers].filter((w) => /"event":"redis_moved"/.test(w.proc.log())).length;
    t.diagnostic(`${redirected} of ${1 + s.workers.length} processes followed a MOVED`);
    assert.ok(redirected > 0, 'no process was ever redirected: the slots did not move under its feet');
    await h.assertLedgerDelivered(t, s.sink, '/ledger', l, [s.gateway.proc, ...s.workers.map((w) => w.proc)]);
});

ctx.test('a master SIGKILLed under load (appendfsync always) and restarted: every acknowledged event reaches the sink', { skip, timeout: 240000 }, async (t) => {
    const cluster = await ctx.cluster({ args: ['--appendfsync', 'always'] });
    const s = await stack(cluster);
    const TOTAL = h.VALGRIND ? 150 : 600;
    const l = h.ledger(s.gateway, { total: TOTAL, base: 200000, secret });
    let killed = false;
    const fault = (async () => {
        await h.waitUntil(() => l.acked.size >= TOTAL / 3, { timeout: 60000, what: 'a third of the events acknowledged' });
        const victim = await cluster.masterOf(await cluster.slotOf(s.stream));
        victim.proc.kill('SIGKILL');
        await victim.proc.waitExit(5000);
        killed = true;
        await h.delay(500);
        await victim.start();
    })();
    await Promise.all([l.run(), fault]);
    assert.ok(killed);
    assert.equal(l.acked.size, TOTAL);
    // and after the restart (the load above may have ended before the kill, under valgrind): more, to the same master
    const after = h.ledger(s.gateway, { total: TOTAL / 3, base: 250000, secret });
    await after.run();
    await h.assertLedgerDelivered(t, s.sink, '/ledger', l, [s.gateway.proc, ...s.workers.map((w) => w.proc)]);
    await h.assertLedgerDelivered(t, s.sink, '/ledger', after, [s.gateway.proc, ...s.workers.map((w) => w.proc)]);
});

ctx.test('a master fails over to its replica (CLUSTER FAILOVER) under load: wharf follows, nothing acknowledged is lost', { skip, timeout: 240000 }, async (t) => {
    const cluster = await ctx.cluster({ replicas: 1, args: ['--appendfsync', 'always'] });
    const s = await stack(cluster);
    const TOTAL = h.VALGRIND ? 150 : 600;
    const l = h.ledger(s.gateway, { total: TOTAL, base: 300000, secret });
    let promoted;
    const fault = (async () => {
        await h.waitUntil(() => l.acked.size >= TOTAL / 3, { timeout: 60000, what: 'a third of the events acknowledged' });
        const victim = await cluster.masterOf(await cluster.slotOf(s.stream));
        for (const n of cluster.nodes) {
            const info = await n.info('replication');
            if (info.role === 'slave' && Number(info.master_port) === victim.port) promoted = n;
        }
        assert.ok(promoted, `a replica of the master on port ${victim.port}`);
        // a manual failover: the master stops taking writes, its replica catches up, then takes over
        await promoted.cli('CLUSTER', 'FAILOVER');
        await h.waitUntil(async () => (await promoted.info('replication')).role === 'master' &&
            (await cluster.masterOf(await cluster.slotOf(s.stream))) === promoted,
        { timeout: 30000, what: 'the replica promoted and announced' });
    })();
    await Promise.all([l.run(), fault]);
    assert.equal(l.acked.size, TOTAL);
    // and after the failover (the load above may have ended before it, under valgrind): more, to the promoted master
    const after = h.ledger(s.gateway, { total: TOTAL / 3, base: 350000, secret });
    await after.run();
    await h.assertLedgerDelivered(t, s.sink, '/ledger', l, [s.gateway.proc, ...s.workers.map((w) => w.proc)]);
    await h.assertLedgerDelivered(t, s.sink, '/ledger', after, [s.gateway.proc, ...s.workers.map((w) => w.proc)]);
    const redirected = [s.gateway, ...s.workers].filter((w) => /"event":"redis_moved"/.test(w.proc.log())).length;
    t.diagnostic(`${redirected} of ${1 + s.workers.length} processes followed a MOVED to the promoted replica`);
    assert.ok(redirected > 0, 'no process followed the failover');
});

ctx.test('WHARF_REDIS_WAIT_REPLICAS on a cluster: wharf refuses to start, saying why', { skip }, async () => {
    const cluster = await ctx.cluster();
    const w = await ctx.wharf({ redis: cluster, role: 'gateway', wait: false, env: { WHARF_REDIS_WAIT_REPLICAS: '1' } });
    const exit = await w.proc.waitExit(15000);
    assert.equal(exit && exit.code, 2);
    assert.match(w.proc.log(), /WHARF_REDIS_WAIT_REPLICAS is 1, but waiting for replicas is not supported on a Redis Cluster/);
});
