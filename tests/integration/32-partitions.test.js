'use strict';
// Scenario 32: the partition count is a deployment setting (WHARF_PARTITIONS), fixed once a Redis holds queues.
// A fresh Redis stores the configured count; events of a connection in a partition past the default 8 are queued
// there and delivered; a process configured with another count refuses to run against that Redis, naming the
// variable; a Redis whose queues predate the setting counts as 8.
const assert = require('node:assert/strict');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('partitions');

const KEY = 'wh:partitions:{p0}';

ctx.test('WHARF_PARTITIONS=16: stored on a fresh Redis, a connection in partition >= 8 is queued there and delivered', async () => {
    const redis = await ctx.redis();
    const w = await ctx.wharf({ redis, env: { WHARF_PARTITIONS: '16' } });
    assert.equal((await redis.cli('GET', KEY)).trim(), '16');
    const sink = await ctx.sink();
    const env = await w.createEnvironment({ name: 'partitions', kind: 'development' });
    await w.createSubscription(env.apiToken, { url: sink.url('/p'), eventTypes: ['*'] });
    // a connection whose partition only a 16-partition deployment has (ids are random: about one in two)
    let conn;
    let secret;
    for (let i = 0; i < 24 && !conn; ++i) {
        const s = `hs-part-${i}`;
        const c = await w.createHubSpotConnection(env.apiToken, { portalId: 7100 + i, secret: s });
        if (h.partitionOf(c.connectionId, 16) >= 8) {
            conn = c;
            secret = s;
        }
    }
    assert.ok(conn, 'no connection of 24 fell in partitions 8..15');
    const p = h.partitionOf(conn.connectionId, 16);
    const portal = 7100 + Number(secret.slice('hs-part-'.length));
    const res = await w.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 4242, portalId: portal })], secret });
    assert.equal(res.status, 202, h.show(res));
    await sink.waitFor('/p', 1, { procs: [w.proc] });
    const info = (await redis.cli('XINFO', 'STREAM', `wh:q:{p${p}}`)).split('\n');
    assert.equal(Number(info[info.indexOf('entries-added') + 1]), 1, `wh:q:{p${p}}: ${info.join(' ')}`);
    const body = sink.to('/p')[0].json;
    assert.equal(body.data.connectionId, conn.connectionId);
});

ctx.test('another count against that Redis: the process exits 2 at startup, naming WHARF_PARTITIONS', async () => {
    const redis = await ctx.redis();
    await redis.cli('SET', KEY, '16');
    const w = await ctx.wharf({ redis, env: { WHARF_PARTITIONS: '8' }, wait: false });
    const r = await w.proc.waitExit(h.VALGRIND ? 60000 : 10000);
    assert.ok(r, 'wharf kept running with WHARF_PARTITIONS=8 against a Redis of 16 partitions');
    assert.equal(r.code, 2, `exit ${JSON.stringify(r)}`);
    assert.match(w.proc.log(), /WHARF_PARTITIONS is 8, but this Redis holds queues for 16 partitions/);
    assert.equal((await redis.cli('GET', KEY)).trim(), '16', 'the stored count changed');
});

ctx.test('a Redis whose queues predate the setting counts as 8: 8 runs, 16 is refused', async () => {
    const redis = await ctx.redis();
    await redis.cli('XADD', 'wh:q:{p0}', '*', 'legacy', '1');
    const w16 = await ctx.wharf({ redis, env: { WHARF_PARTITIONS: '16' }, wait: false });
    const r = await w16.proc.waitExit(h.VALGRIND ? 60000 : 10000);
    assert.ok(r && r.code === 2, `WHARF_PARTITIONS=16 on a legacy Redis: ${JSON.stringify(r)}`);
    assert.equal((await redis.cli('GET', KEY)).trim(), '8');
    const w8 = await ctx.wharf({ redis }); // the default: ready
    assert.equal((await h.request(w8.url('/readyz'))).status, 200);
});
