'use strict';
// Scenario 35: WHARF_WORKER_THREADS runs several worker loops in one process, each a consumer of its own
// (WHARF_CONSUMER, then WHARF_CONSUMER.<i>): to Redis they are separate workers. Every event is delivered, the
// subscription's maxConcurrency holds across them, /readyz answers for all of them, and a bad count is refused.
const assert = require('node:assert/strict');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('worker-threads');

ctx.test('3 worker threads: 3 consumers, every event delivered, maxConcurrency held across them', async () => {
    const redis = await ctx.redis();
    const w = await ctx.wharf({ redis, env: { WHARF_WORKER_THREADS: '3', WHARF_CONSUMER: 'wt' } });
    // one reader per thread, each blocked in its own XREADGROUP (on a cluster: one per partition and thread, over
    // the masters)
    if (!h.CLUSTER) await h.waitUntil(async () => (String(await redis.cli('CLIENT', 'LIST')).match(/cmd=xreadgroup/g) || []).length === 3,
        { what: '3 blocked XREADGROUP readers', procs: [w.proc] });
    // a slow sink, so that deliveries overlap and the cap is what bounds them
    const sink = await ctx.sink();
    sink.script('/t', [{ status: 200, delayMs: 100 }]);
    const env = await w.createEnvironment({ name: 'threads', kind: 'development' });
    await w.createSubscription(env.apiToken, { url: sink.url('/t'), eventTypes: ['*'], maxConcurrency: 2 });
    const conns = [];
    for (let c = 0; c < 4; ++c) {
        const secret = `hs-threads-${c}`;
        await w.createHubSpotConnection(env.apiToken, { portalId: 8100 + c, secret });
        conns.push({ secret, portal: 8100 + c });
    }
    const N = 30;
    for (let i = 0; i < N / 3; ++i) {
        const { secret, portal } = conns[i % conns.length];
        const events = [0, 1, 2].map((k) => hubspot.propertyChange('contact', { objectId: 5000 + 3 * i + k, portalId: portal }));
        const res = await w.postHubSpot({ events, secret });
        assert.equal(res.status, 202, h.show(res));
    }
    await sink.waitFor('/t', N, { timeout: h.VALGRIND ? 120000 : 30000, procs: [w.proc] });
    const ids = new Set(sink.to('/t').map((r) => r.json.data.eventId));
    assert.equal(ids.size, N, 'every event delivered');
    const peak = h.peakConcurrency(sink.to('/t'), 100);
    assert.ok(peak <= 2, `maxConcurrency 2 held across the threads: ${peak} in flight`);
    // the consumers that read something are the threads' names (which of them got entries is Redis's choice)
    const names = new Set();
    for (let p = 0; p < 8; ++p) {
        const lines = String(await redis.cli('XINFO', 'CONSUMERS', `wh:q:{p${p}}`, 'wharf')).split('\n');
        for (let i = 0; i + 1 < lines.length; ++i) if (lines[i] === 'name') names.add(lines[i + 1]);
    }
    assert.ok(names.size >= 1 && [...names].every((n) => ['wt', 'wt.1', 'wt.2'].includes(n)), [...names].join(' '));
    assert.equal((await h.request(w.url('/readyz'))).status, 200);
});

for (const bad of ['0', '17', 'two']) {
    ctx.test(`WHARF_WORKER_THREADS=${bad}: the process exits 2 at startup, naming the variable`, async () => {
        const redis = await ctx.redis();
        const w = await ctx.wharf({ redis, env: { WHARF_WORKER_THREADS: bad }, wait: false });
        const r = await w.proc.waitExit(h.VALGRIND ? 60000 : 10000);
        assert.ok(r, `wharf kept running with WHARF_WORKER_THREADS=${bad}`);
        assert.equal(r.code, 2, `exit ${JSON.stringify(r)}`);
        assert.match(w.proc.log(), /WHARF_WORKER_THREADS/);
    });
}
