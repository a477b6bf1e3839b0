'use strict';
// Scenario 33: changes that span two slots are ordered steps (ARCHITECTURE.md "Steps across slots"); what a
// process that died between two steps leaves behind is finished by the workers' repair sweep (dispatch/repair.c).
// Each state is written here exactly as the dead process would have left it, then the worker must finish it:
//   - an outbox entry whose XADD never happened reaches the partition stream and the subscriber, once;
//   - a deleted connection's tombstone whose id never reached wh:purge is purged, and its id is free again;
//   - a reservation a creation left (no hash came of it) is released after a minute: the place, its record and
//     its app-level index entry (only if that entry is this environment's); a reservation whose connection exists
//     only loses its record.
// Runs on one Redis and, with WHARF_IT_REDIS=cluster, on a 3-master cluster.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('repair');
let s;

ctx.before(async () => {
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis });
    const sink = await ctx.sink();
    const env = await wharf.createEnvironment({ name: 'repair', kind: 'production' });
    const sys = await wharf.createSubscription(env.apiToken, { url: sink.url('/sys'), eventTypes: ['system.*'] });
    s = { redis, wharf, sink, env, sys, procs: [wharf.proc] };
});

const secret = () => `whsec_${crypto.randomBytes(24).toString('base64')}`;

ctx.test('an outbox entry left behind is moved by the sweep and delivered once', async () => {
    const conn = await s.wharf.createConnection(s.env.apiToken, { integrationId: 'standard', credentials: { secret: secret() } });
    const id = conn.connectionId;
    const eventId = `evt_${crypto.randomBytes(16).toString('hex')}`;
    const event = {
        v: 1, eventId, environmentId: s.env.environmentId, connectionId: id, type: 'system.connection.status.updated',
        // written a minute ago by a process that died before it moved it (a younger head is its writer's to move)
        receivedAt: Date.now() - 60000, data: { connectionId: id, status: 'INITIAL_SYNCED', syncState: 'initial-sync-in-progress' },
    };
    const entry = JSON.stringify([`wh:q:{p${h.partitionOf(id)}}`, 'c', id, 's', JSON.stringify(event)]);
    await s.redis.cli('RPUSH', `wh:ob:{c:${id}}`, entry);
    await s.sink.waitFor('/sys', 1, { timeout: 20000, procs: s.procs });
    const got = s.sink.to('/sys').map((rec) => { h.verifyDelivery(rec, s.sys.secret); return JSON.parse(rec.text); });
    assert.equal(got.length, 1);
    assert.equal(got[0].type, 'system.connection.status.updated');
    assert.equal(got[0].data.connectionId, id);
    assert.equal((await s.redis.cli('LLEN', `wh:ob:{c:${id}}`)).trim(), '0');
    await h.delay(6000); // another round of the sweep: nothing more
    assert.equal(s.sink.to('/sys').length, 1);
});

ctx.test('a tombstone whose id never reached the purge set is purged, and the id is free again', async () => {
    const id = `ghost-${crypto.randomBytes(4).toString('hex')}`;
    await s.redis.cli('HSET', `wh:obj:{c:${id}}:contact:1`, 'email', '"a@example.com"');
    await s.redis.cli('SADD', `wh:env:{e:${s.env.environmentId}}:conns`, id);
    await s.redis.cli('HSET', `wh:gone:{c:${id}}`, 'env', s.env.environmentId, 'integration', 'standard', 'account', '', 'at', String(Date.now()));
    let res = await s.wharf.api('POST', '/v1/connections', { token: s.env.apiToken, json: { integrationId: 'standard', connectionId: id, credentials: { secret: secret() } } });
    assert.equal(res.status, 409, h.show(res));
    assert.equal(h.errorCode(res), 'connection_being_deleted');
    await h.waitUntil(async () => (await s.redis.scanKeys(`wh:*{c:${id}}*`)).length === 0, { timeout: 30000, what: 'the purge of the tombstone', procs: s.procs });
    assert.equal((await s.redis.cli('SISMEMBER', `wh:env:{e:${s.env.environmentId}}:conns`, id)).trim(), '0');
    assert.equal((await s.redis.cli('SISMEMBER', 'wh:purge', id)).trim(), '0');
    res = await s.wharf.api('POST', '/v1/connections', { token: s.env.apiToken, json: { integrationId: 'standard', connectionId: id, credentials: { secret: secret() } } });
    assert.equal(res.status, 201, h.show(res));
});

ctx.test('a reservation left by a creation that died is released after a minute; a finished one only loses its record', async () => {
    const envId = s.env.environmentId;
    const dead = `dead-${crypto.randomBytes(4).toString('hex')}`;
    const live = await s.wharf.createConnection(s.env.apiToken, { integrationId: 'standard', credentials: { secret: secret() } });
    const acct = 'wh:acct:hubspot:777';
    const old = String(Date.now() - 120000);
    await s.redis.cli('SADD', `wh:env:{e:${envId}}:conns`, dead);
    await s.redis.cli('HSET', `wh:env:{e:${envId}}:resv`, dead, `${old} ${acct}`, live.connectionId, `${old} `);
    await s.redis.cli('HSET', acct, dead, JSON.stringify({ env: envId, creds: 'y' }));
    // a reservation whose id's index entry is another environment's connection: that entry stays
    const shared = `shared-${crypto.randomBytes(4).toString('hex')}`;
    await s.redis.cli('SADD', `wh:env:{e:${envId}}:conns`, shared);
    await s.redis.cli('HSET', `wh:env:{e:${envId}}:resv`, shared, `${old} ${acct}`);
    await s.redis.cli('HSET', acct, shared, JSON.stringify({ env: 'another-environment', creds: 'z' }));
    // a fresh reservation (a creation in progress) is left alone
    await s.redis.cli('HSET', `wh:env:{e:${envId}}:resv`, 'fresh', `${Date.now()} `);
    await h.waitUntil(async () => (await s.redis.cli('HEXISTS', `wh:env:{e:${envId}}:resv`, dead)).trim() === '0' &&
        (await s.redis.cli('HEXISTS', `wh:env:{e:${envId}}:resv`, live.connectionId)).trim() === '0',
    { timeout: 20000, what: 'the stale reservations released', procs: s.procs });
    assert.equal((await s.redis.cli('SISMEMBER', `wh:env:{e:${envId}}:conns`, dead)).trim(), '0');
    assert.equal((await s.redis.cli('HEXISTS', acct, dead)).trim(), '0');
    await h.waitUntil(async () => (await s.redis.cli('SISMEMBER', `wh:env:{e:${envId}}:conns`, shared)).trim() === '0',
        { timeout: 20000, what: 'the reservation of the shared id released', procs: s.procs });
    assert.equal((await s.redis.cli('HEXISTS', acct, shared)).trim(), '1');
    assert.equal((await s.redis.cli('SISMEMBER', `wh:env:{e:${envId}}:conns`, live.connectionId)).trim(), '1');
    assert.equal((await s.redis.cli('HEXISTS', `wh:env:{e:${envId}}:resv`, 'fresh')).trim(), '1');
    const res = await s.wharf.api('GET', '/v1/connections', { token: s.env.apiToken });
    assert.equal(res.status, 200, h.show(res));
    assert.ok(res.json.connections.some((c) => c.connectionId === live.connectionId));
    assert.ok(res.json.connections.every((c) => c.connectionId !== dead));
});

ctx.test('another connection\'s key naming this one\'s tag in its object id neither stops the purge nor is removed by it', async () => {
    const x = await s.wharf.createConnection(s.env.apiToken, { integrationId: 'standard', credentials: { secret: secret() } });
    const id = x.connectionId;
    // an id whose slot is on the same master as the deleted connection's, so that the purge's SCAN finds the key
    let other;
    for (let i = 0; other === undefined; i++) {
        const y = `other-${i}-${crypto.randomBytes(3).toString('hex')}`;
        if (!h.CLUSTER || (await s.redis.masterOf(await s.redis.slotOf(`{c:${y}}`))) === (await s.redis.masterOf(await s.redis.slotOf(`{c:${id}}`)))) other = y;
    }
    const foreign = `wh:obj:{c:${other}}:contact:{c:${id}}`;
    await s.redis.cli('HSET', foreign, 'email', '"b@example.com"');
    await s.redis.cli('HSET', `wh:obj:{c:${id}}:contact:1`, 'email', '"a@example.com"');
    const res = await s.wharf.api('DELETE', `/v1/connections/${id}`, { token: s.env.apiToken });
    assert.equal(res.status, 204, h.show(res));
    await h.waitUntil(async () => (await s.redis.scanKeys(`wh:*{c:${id}}*`)).every((k) => k === foreign) &&
        (await s.redis.cli('SISMEMBER', 'wh:purge', id)).trim() === '0',
    { timeout: 30000, what: 'the purge of the deleted connection, the foreign key aside', procs: s.procs });
    assert.equal((await s.redis.cli('EXISTS', foreign)).trim(), '1');
    assert.equal((await s.redis.cli('EXISTS', `wh:gone:{c:${id}}`)).trim(), '0');
});
