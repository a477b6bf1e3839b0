'use strict';
// Scenario 23: Pipedrive on its per-connection route. HTTP Basic credentials of the webhook, v2 and v1
// payloads normalized to crm.<objectType>.<action> events (verified with standardwebhooks), a wrong
// password refused with nothing queued or delivered, and a Pipedrive retry acknowledged but delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('pipedrive');
const username = 'wharf-user';
const password = `pd-pass-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'pipedrive', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'pipedrive', externalAccountId: '8087566',
        credentials: { username, password }, sync: { objects: { contacts: true, deals: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['crm.*'] });
});

/* What Pipedrive sends: RFC 7617 Basic of the webhook's http_auth_user/http_auth_password (Node's Buffer, not wharf). */
const basic = (u, p) => `Basic ${Buffer.from(`${u}:${p}`, 'utf8').toString('base64')}`;

function post(body, { auth = basic(username, password), contentType = 'application/json', path } = {}) {
    const headers = { 'Content-Type': contentType };
    if (auth !== null) headers.Authorization = auth;
    return h.request(wharf.url(path || `/webhooks/pipedrive/${conn.connectionId}`), {
        method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

/* A v2 event shaped like Pipedrive's migration-guide examples. */
function v2(entity, action, entityId, data, previous, o = {}) {
    return {
        data, previous,
        meta: {
            action, company_id: '8087566', correlation_id: crypto.randomUUID(), entity_id: String(entityId), entity,
            id: o.id || crypto.randomUUID(), is_bulk_edit: false, timestamp: o.timestamp || new Date().toISOString(),
            type: 'general', user_id: '12415231', version: '2.0', webhook_id: '4710827', webhook_owner_id: '12094821',
            change_source: 'app', attempt: o.attempt || 1, host: 'pd-us.pipedrive.com',
        },
    };
}

const deliveriesOf = (objectId) => sink.to('/all').filter((r) => r.json?.data?.objectId === String(objectId));

async function oneDelivery(objectId) {
    await h.waitUntil(() => deliveriesOf(objectId).length >= 1, { timeout: 15000, what: `delivery of object ${objectId}`, procs: [wharf.proc] });
    return h.verifyDelivery(deliveriesOf(objectId)[0], sub.secret);
}

ctx.test('v2 person create → 202 {accepted:1}, delivered as crm.contact.created', async () => {
    const ts = new Date(Date.now() - 60000).toISOString();
    const ev = v2('person', 'create', 8101, { id: 8101, first_name: 'Ada', last_name: 'Lovelace', name: 'Ada Lovelace', emails: [{ value: 'ada@example.com', primary: true }] }, null, { timestamp: ts });
    const res = await post(ev);
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    const p = await oneDelivery(8101);
    assert.equal(p.type, 'crm.contact.created', JSON.stringify(p));
    assert.equal(p.data.objectType, 'contact');
    assert.equal(p.data.action, 'created');
    assert.equal(p.data.integrationId, 'pipedrive');
    assert.equal(p.data.connectionId, conn.connectionId);
    assert.equal(p.data.thin, false);
    assert.equal(Date.parse(p.data.occurredAt), Date.parse(ts), `occurredAt ${p.data.occurredAt} is not meta.timestamp ${ts}`);
});

ctx.test('v2 deal change → crm.deal.updated with changedFields from previous', async () => {
    const ev = v2('deal', 'change', 9101, { id: 9101, title: 'Big deal', value: 2500, currency: 'EUR', stage_id: 3 }, { value: 1500, stage_id: 2 });
    const res = await post(ev);
    assert.equal(res.status, 202, h.show(res));
    const p = await oneDelivery(9101);
    assert.equal(p.type, 'crm.deal.updated', JSON.stringify(p));
    assert.deepEqual(p.data.changedFields, ['amount', 'stage'], JSON.stringify(p));
    assert.deepEqual(p.data.previous, { amount: 1500, stage: 2 }, JSON.stringify(p));
});

ctx.test('v1 updated.organization → crm.account.updated (legacy payload, changed keys diffed)', async () => {
    const ev = {
        v: 1, meta: { v: 1, action: 'updated', object: 'organization', id: 7101, company_id: 8087566, timestamp: Math.floor(Date.now() / 1000), timestamp_micro: Date.now() * 1000, webhook_id: 91 },
        retry: 0, current: { id: 7101, name: 'Acme SA', owner_id: 5 }, previous: { id: 7101, name: 'Acme', owner_id: 5 }, event: 'updated.organization',
    };
    const res = await post(ev);
    assert.equal(res.status, 202, h.show(res));
    const p = await oneDelivery(7101);
    assert.equal(p.type, 'crm.account.updated', JSON.stringify(p));
    assert.deepEqual(p.data.changedFields, ['name'], JSON.stringify(p));
});

ctx.test('wrong credentials → 401 invalid_signature, queue unchanged, nothing delivered', async () => {
    const ev = v2('person', 'create', 8199, { id: 8199, name: 'Mallory' }, null);
    const before = await redis.queueCounters();
    for (const auth of [basic(username, 'not-the-password'), basic('someone-else', password), null, `Bearer ${password}`]) {
        const res = await post(ev, { auth });
        assert.equal(res.status, 401, `${auth}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
        assert.ok(!res.text.includes(password), 'the error must not echo the password');
    }
    assert.deepEqual(await redis.queueCounters(), before, 'a refused request queued something');
    await h.delay(1000);
    assert.equal(deliveriesOf(8199).length, 0, 'a refused event was delivered');
});

ctx.test('a Pipedrive retry (same meta.id, attempt 2) → 202, queued and delivered once', async () => {
    const id = crypto.randomUUID();
    const ev = v2('person', 'change', 8201, { id: 8201, name: 'Retry Me' }, { name: 'Retry' }, { id });
    const first = await post(ev);
    assert.equal(first.status, 202, h.show(first));
    const c1 = await redis.queueCounters();
    const retry = await post({ ...ev, meta: { ...ev.meta, attempt: 2 } });
    assert.equal(retry.status, 202, `retry: ${h.show(retry)}`);
    const c2 = await redis.queueCounters();
    assert.equal(c2.added, c1.added, `the retry queued again (${c1.added} → ${c2.added})`);
    await oneDelivery(8201);
    await h.delay(1500); // quiet period: a duplicate would arrive within it
    assert.equal(deliveriesOf(8201).length, 1, `object 8201 delivered ${deliveriesOf(8201).length}×`);
});

ctx.test('malformed body → 400 malformed_payload; wrong content type → 415', async () => {
    const before = await redis.queueCounters();
    let res = await post('{"meta":{"action":"create"}}');
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'malformed_payload', h.show(res));
    res = await post(v2('person', 'create', 8301, { id: 8301 }, null), { contentType: 'text/plain' });
    assert.equal(res.status, 415, h.show(res));
    assert.deepEqual(await redis.queueCounters(), before);
});
