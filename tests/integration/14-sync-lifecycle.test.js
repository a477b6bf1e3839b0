'use strict';
// Scenario 14: the connection lifecycle (design §5, §6, §7). Records pushed through sync/records flow through
// the connection's partition stream like webhooks; sync/status moves NEW_CONNECTION -> INITIAL_SYNCED -> READY
// one step at a time, each move emitting system.connection.status.updated and READY emitting
// system.sync.initial.complete exactly once, with two worker processes racing for the stream; deleting a
// connection emits system.connection.deleted, frees its connectionLimit slot and purges its keys incrementally.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('sync-lifecycle');
let s; // the shared stack: redis, gateway, two workers, a sink

function contact(i, extra = {}) {
    return { id: `c${i}`, updatedAt: new Date(Date.UTC(2026, 10, 20, 10, 0, i)).toISOString(), firstName: `Ann${i}`, lastName: `Smith${i}`, email: `ann${i}@example.com`, ...extra };
}

async function connection(token, body = {}) {
    return s.wharf.createConnection(token, {
        integrationId: 'standard', credentials: { secret: `whsec_${crypto.randomBytes(24).toString('base64')}` },
        sync: { objects: { contacts: true, deals: true } }, ...body,
    });
}

const post = (token, id, what, json) => s.wharf.api('POST', `/v1/connections/${id}/sync/${what}`, { token, json });

/* The system events delivered to `path`, parsed and verified with the official library, for one connection. */
function systemEvents(path, secret, connectionId) {
    return s.sink.to(path).map((rec) => { h.verifyDelivery(rec, secret); return JSON.parse(rec.text); })
        .filter((ev) => ev.data.connectionId === connectionId);
}

async function keysOf(connectionId) {
    return s.redis.scanKeys(`wh:*{c:${connectionId}}*`);
}

ctx.before(async () => {
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis, role: 'gateway' });
    const procs = [wharf.proc];
    for (let i = 0; i < 2; i++) procs.push((await ctx.wharf({ redis, role: 'worker' })).proc);
    const sink = await ctx.sink();
    const env = await wharf.createEnvironment({ name: 'sync', kind: 'production' });
    const sys = await wharf.createSubscription(env.apiToken, { url: sink.url('/sys'), eventTypes: ['system.*'] });
    const crm = await wharf.createSubscription(env.apiToken, { url: sink.url('/crm'), eventTypes: ['crm.*'] });
    s = { redis, wharf, procs, sink, env, sys, crm };
});

ctx.test('records stream in, then INITIAL_SYNCED and READY: status.updated ×2 and initial.complete ×1 with two workers', async () => {
    const token = s.env.apiToken;
    const conn = await connection(token);
    const id = conn.connectionId;
    assert.equal(conn.status, 'NEW_CONNECTION');
    assert.equal(conn.syncState, 'initial-sync-in-progress');

    let res = await post(token, id, 'records', { objectType: 'contact', records: [1, 2, 3, 4, 5].map((i) => contact(i)) });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 5 });
    res = await post(token, id, 'records', { objectType: 'deal', source: 'api', records: [{ id: 'd1', updatedAt: '2026-11-20T10:00:00Z', name: 'Big deal', amount: 1000, additional: { nested: { deep: [1, 2] } } }] });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 });

    // The worker's treatment of sync records is changing elsewhere: accept either deliveries or cached records.
    await h.waitUntil(async () => {
        const delivered = new Set(s.sink.to('/crm').map((r) => JSON.parse(r.text)).filter((e) => e.data.connectionId === id && e.type.startsWith('crm.contact.')).map((e) => e.data.objectId));
        if (delivered.size === 5) return true;
        return (await keysOf(id)).filter((k) => k.startsWith(`wh:obj:{c:${id}}:contact:`)).length === 5;
    }, { timeout: 15000, what: 'the 5 synced contacts to be delivered or cached', procs: s.procs });

    res = await post(token, id, 'status', { status: 'INITIAL_SYNCED' });
    assert.equal(res.status, 200, h.show(res));
    assert.equal(res.json.connectionId, id);
    assert.equal(res.json.status, 'INITIAL_SYNCED');
    assert.equal(res.json.syncState, 'initial-sync-in-progress');
    assert.deepEqual(res.json.sync, { objects: { contacts: true, deals: true } });
    res = await post(token, id, 'status', { status: 'READY' });
    assert.equal(res.status, 200, h.show(res));
    assert.equal(res.json.status, 'READY');
    assert.equal(res.json.syncState, 'initial-sync-complete');

    res = await s.wharf.api('GET', `/v1/connections/${id}`, { token });
    assert.equal(res.status, 200, h.show(res));
    assert.equal(res.json.status, 'READY');
    assert.equal(res.json.syncState, 'initial-sync-complete');
    res = await s.wharf.api('GET', '/v1/connections', { token });
    const listed = res.json.connections.find((c) => c.connectionId === id);
    assert.equal(listed.status, 'READY');
    assert.equal(listed.syncState, 'initial-sync-complete');

    await h.waitUntil(async () => systemEvents('/sys', s.sys.secret, id).length >= 3,
        { timeout: 15000, what: '3 system events', procs: s.procs });
    await h.delay(1500); // anything duplicated by the second worker would show up by now
    const evs = systemEvents('/sys', s.sys.secret, id);
    const updated = evs.filter((e) => e.type === 'system.connection.status.updated');
    const complete = evs.filter((e) => e.type === 'system.sync.initial.complete');
    assert.equal(updated.length, 2, JSON.stringify(evs));
    assert.equal(complete.length, 1, JSON.stringify(evs));
    assert.equal(evs.length, 3, JSON.stringify(evs));
    assert.deepEqual(updated.map((e) => [e.data.status, e.data.syncState]).sort(),
        [['INITIAL_SYNCED', 'initial-sync-in-progress'], ['READY', 'initial-sync-complete']]);
    assert.equal(complete[0].data.status, 'READY');
    assert.equal(complete[0].data.syncState, 'initial-sync-complete');
    assert.ok(complete[0].data.eventId.startsWith('evt_'));
    assert.equal(new Set(evs.map((e) => e.data.eventId)).size, 3, 'three distinct events');
});

ctx.test('only the next status is accepted: skipping, repeating and going back are 409 and emit nothing', async () => {
    const token = s.env.apiToken;
    const id = (await connection(token)).connectionId;
    for (const status of ['READY', 'NEW_CONNECTION']) {
        const res = await post(token, id, 'status', { status });
        assert.equal(res.status, 409, `${status}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_transition');
    }
    let res = await post(token, id, 'status', { status: 'INITIAL_SYNCED' });
    assert.equal(res.status, 200, h.show(res));
    for (const status of ['INITIAL_SYNCED', 'NEW_CONNECTION']) {
        res = await post(token, id, 'status', { status });
        assert.equal(res.status, 409, `${status}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_transition');
    }
    res = await s.wharf.api('GET', `/v1/connections/${id}`, { token });
    assert.equal(res.json.status, 'INITIAL_SYNCED');
    await h.waitUntil(async () => systemEvents('/sys', s.sys.secret, id).length >= 1, { timeout: 15000, what: 'the one system event', procs: s.procs });
    await h.delay(1000);
    const evs = systemEvents('/sys', s.sys.secret, id);
    assert.deepEqual(evs.map((e) => [e.type, e.data.status]), [['system.connection.status.updated', 'INITIAL_SYNCED']]);
});

ctx.test('bad bodies are 400 naming the field; another environment is 404', async () => {
    const token = s.env.apiToken;
    const id = (await connection(token)).connectionId;
    const cases = [
        [{ objectType: 'contact', records: Array.from({ length: 1001 }, (_, i) => ({ id: `x${i}`, updatedAt: '2026-11-20T10:00:00Z' })) }, 'records'],
        [{ objectType: 'contact', records: [] }, 'records'],
        [{ objectType: 'contact' }, 'records'],
        [{ objectType: 'contact', records: [contact(1), { updatedAt: '2026-11-20T10:00:00Z' }] }, 'records[1].id'],
        [{ objectType: 'contact', records: [{ id: '', updatedAt: '2026-11-20T10:00:00Z' }] }, 'records[0].id'],
        [{ objectType: 'contact', records: [contact(1), { id: 'a/b', updatedAt: '2026-11-20T10:00:00Z' }] }, 'records[1].id'],
        [{ objectType: 'contact', records: [{ id: 'x{c:other}', updatedAt: '2026-11-20T10:00:00Z' }] }, 'records[0].id'],
        [{ objectType: 'contact', records: [{ id: 'é', updatedAt: '2026-11-20T10:00:00Z' }] }, 'records[0].id'],
        [{ objectType: 'contact', records: [contact(1), contact(2), { id: 'x', updatedAt: 'yesterday' }] }, 'records[2].updatedAt'],
        [{ objectType: 'contact', records: [{ id: 'x' }] }, 'records[0].updatedAt'],
        [{ objectType: 'contacts', records: [contact(1)] }, 'objectType'],
        [{ objectType: 'invoice', records: [contact(1)] }, 'objectType'],
        [{ records: [contact(1)] }, 'objectType'],
        [{ objectType: 'contact', source: 'webhook', records: [contact(1)] }, 'source'],
        [{ objectType: 'contact', records: [contact(1, { Last_Name: 'x' })] }, 'records[0].Last_Name'],
        [{ objectType: 'contact', records: [contact(1, { address: { city: 'Paris' } })] }, 'records[0].address'],
        [{ objectType: 'contact', records: [contact(1)], extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
        const res = await post(token, id, 'records', body);
        assert.equal(res.status, 400, `${field}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_request');
        assert.ok(res.json.error.message.startsWith(`${field}:`), `expected the message to name ${field}: ${res.json.error.message}`);
    }
    for (const [body, field] of [[{}, 'status'], [{ status: 'DONE' }, 'status'], [{ status: 'READY', x: 1 }, 'x']]) {
        const res = await post(token, id, 'status', body);
        assert.equal(res.status, 400, `${field}: ${h.show(res)}`);
        assert.ok(res.json.error.message.startsWith(`${field}:`), res.json.error.message);
    }

    const other = await s.wharf.createEnvironment({ name: 'other' });
    let res = await post(other.apiToken, id, 'records', { objectType: 'contact', records: [contact(1)] });
    assert.equal(res.status, 404, h.show(res));
    res = await post(other.apiToken, id, 'status', { status: 'INITIAL_SYNCED' });
    assert.equal(res.status, 404, h.show(res));
    res = await s.wharf.api('DELETE', `/v1/connections/${id}`, { token: other.apiToken });
    assert.equal(res.status, 404, h.show(res));
    res = await post(token, 'no-such-connection', 'records', { objectType: 'contact', records: [contact(1)] });
    assert.equal(res.status, 404, h.show(res));
    res = await s.wharf.api('GET', `/v1/connections/${id}`, { token });
    assert.equal(res.json.status, 'NEW_CONNECTION', 'the 404s changed nothing');
});

ctx.test('delete: 204, system.connection.deleted, keys purged, id free again, connectionLimit slot freed', async () => {
    const env = await s.wharf.createEnvironment({ name: 'dev', kind: 'development' });
    const token = env.apiToken;
    const sys = await s.wharf.createSubscription(token, { url: s.sink.url('/sys-dev'), eventTypes: ['system.*'] });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await connection(token, { connectionId: `dev-conn-${i}` })).connectionId);
    let res = await s.wharf.api('POST', '/v1/connections', { token, json: { integrationId: 'standard', credentials: { secret: 'whsec_' + crypto.randomBytes(24).toString('base64') } } });
    assert.equal(res.status, 403, h.show(res));
    assert.equal(h.errorCode(res), 'connection_limit_reached');

    const id = ids[0];
    res = await post(token, id, 'records', { objectType: 'contact', records: Array.from({ length: 50 }, (_, i) => contact(i)) });
    assert.equal(res.status, 202, h.show(res));
    await h.waitUntil(async () => (await keysOf(id)).length >= 50, { timeout: 15000, what: 'the records in the cache', procs: s.procs });

    res = await s.wharf.api('DELETE', `/v1/connections/${id}`, { token });
    assert.equal(res.status, 204, h.show(res));
    res = await s.wharf.api('GET', `/v1/connections/${id}`, { token });
    assert.equal(res.status, 404, h.show(res));
    res = await s.wharf.api('DELETE', `/v1/connections/${id}`, { token });
    assert.equal(res.status, 404, h.show(res));
    res = await post(token, id, 'records', { objectType: 'contact', records: [contact(1)] });
    assert.equal(res.status, 404, h.show(res));

    await h.waitUntil(async () => systemEvents('/sys-dev', sys.secret, id).some((e) => e.type === 'system.connection.deleted'),
        { timeout: 15000, what: 'system.connection.deleted', procs: s.procs });
    const deleted = systemEvents('/sys-dev', sys.secret, id).filter((e) => e.type === 'system.connection.deleted');
    assert.equal(deleted.length, 1);
    assert.equal(deleted[0].data.status, 'NEW_CONNECTION');
    assert.equal(deleted[0].data.syncState, 'initial-sync-in-progress');

    await h.waitUntil(async () => (await keysOf(id)).length === 0 && (await s.redis.cli('SISMEMBER', 'wh:purge', id)).trim() === '0',
        { timeout: 15000, what: `every wh:*{c:${id}}* key purged`, procs: s.procs });

    // the slot is free: a sixth connection fits, and the purged id can be used again, with an empty cache
    res = await s.wharf.api('POST', '/v1/connections', { token, json: { integrationId: 'standard', connectionId: id, credentials: { secret: 'whsec_' + crypto.randomBytes(24).toString('base64') } } });
    assert.equal(res.status, 201, h.show(res));
    assert.equal(res.json.status, 'NEW_CONNECTION');
    res = await s.wharf.api('POST', '/v1/connections', { token, json: { integrationId: 'standard', credentials: { secret: 'whsec_' + crypto.randomBytes(24).toString('base64') } } });
    assert.equal(res.status, 403, h.show(res));
    assert.deepEqual((await keysOf(id)).filter((k) => !k.startsWith('wh:conn:')), []);
});

ctx.test('an id being purged is refused with 409 connection_being_deleted', async () => {
    const token = s.env.apiToken;
    // Simulates a purge still running: a deleted connection's tombstone (what conn_create looks at) and its id in
    // the purge set (what the workers' purge works from).
    await s.redis.cli('HSET', 'wh:gone:{c:still-purging}', 'env', s.env.environmentId || 'x', 'integration', 'standard', 'account', '', 'at', '1');
    await s.redis.cli('SADD', 'wh:purge', 'still-purging');
    await s.redis.cli('SET', 'wh:x:{c:still-purging}:held', '1');
    const res = await s.wharf.api('POST', '/v1/connections', { token, json: { integrationId: 'standard', connectionId: 'still-purging', credentials: { secret: 'whsec_' + crypto.randomBytes(24).toString('base64') } } });
    assert.equal(res.status, 409, h.show(res));
    assert.equal(h.errorCode(res), 'connection_being_deleted');
    await h.waitUntil(async () => (await s.redis.cli('SISMEMBER', 'wh:purge', 'still-purging')).trim() === '0' && (await keysOf('still-purging')).length === 0,
        { timeout: 15000, what: 'the purge to finish', procs: s.procs });
    await connection(token, { connectionId: 'still-purging' });
});
