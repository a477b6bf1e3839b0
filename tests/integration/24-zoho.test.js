'use strict';
// Scenario 24: Zoho CRM notifications on their per-connection route. The echoed channel_id/token authenticate,
// every id of a notification becomes one thin crm.<objectType>.<action> event (verified with standardwebhooks),
// a wrong token is refused with nothing queued or delivered, and a redelivered notification is delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('zoho');
const channelId = String(1000000000000 + crypto.randomInt(1, 1e9));
const token = `zoho-token-${crypto.randomBytes(8).toString('hex')}`;
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'zoho', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'zoho', externalAccountId: '20050001', credentials: { channelId, token },
        sync: { objects: { contacts: true, leads: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['crm.*'] });
});

/* A notification shaped like Zoho's samples (channel_id is a number in Zoho's own bodies). */
function notification(module, operation, ids, o = {}) {
    return {
        server_time: o.serverTime || Date.now() - 30000, query_params: {}, module,
        resource_uri: `https://www.zohoapis.com/crm/v2/${module}`, ids, affected_fields: o.affectedFields || [],
        ...(o.affectedValues ? { affected_values: o.affectedValues } : {}),
        operation, channel_id: Number(channelId), token: o.token || token,
    };
}

function post(body, { contentType = 'application/json;charset=UTF-8' } = {}) {
    return h.request(wharf.url(`/webhooks/zoho/${conn.connectionId}`), {
        method: 'POST', headers: { 'Content-Type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

const deliveriesOf = (objectId) => sink.to('/all').filter((r) => r.json?.data?.objectId === String(objectId));

async function delivered(objectId) {
    await h.waitUntil(() => deliveriesOf(objectId).length >= 1, { timeout: 15000, what: `delivery of record ${objectId}`, procs: [wharf.proc] });
    return h.verifyDelivery(deliveriesOf(objectId)[0], sub.secret);
}

ctx.test('Leads insert of two ids (charset parameter in Content-Type) → 202 {accepted:2}, two crm.lead.created', async () => {
    const serverTime = Date.now() - 45000;
    const res = await post(notification('Leads', 'insert', ['5725767000003000064', '5725767000003000065'], { serverTime }));
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 2 }, h.show(res));
    for (const id of ['5725767000003000064', '5725767000003000065']) {
        const p = await delivered(id);
        assert.equal(p.type, 'crm.lead.created', JSON.stringify(p));
        assert.equal(p.data.objectType, 'lead');
        assert.equal(p.data.action, 'created');
        assert.equal(p.data.integrationId, 'zoho');
        assert.equal(p.data.connectionId, conn.connectionId);
        assert.equal(p.data.thin, true, `Zoho sends ids only: ${JSON.stringify(p)}`);
        assert.equal(Date.parse(p.data.occurredAt), serverTime, `occurredAt ${p.data.occurredAt} is not server_time`);
    }
});

ctx.test('Contacts update → crm.contact.updated with changedFields from affected_fields', async () => {
    const id = '5725767000003000010';
    const res = await post(notification('Contacts', 'update', [id], {
        affectedFields: [{ [id]: ['Mobile', 'Email'] }], affectedValues: [{ record_id: id, values: { Mobile: '123456789', Email: 'a@b.c' } }],
    }));
    assert.equal(res.status, 202, h.show(res));
    const p = await delivered(id);
    assert.equal(p.type, 'crm.contact.updated', JSON.stringify(p));
    assert.deepEqual(p.data.changedFields, ['mobilePhone', 'email'], JSON.stringify(p));
    assert.equal(p.data.thin, true);
});

ctx.test('wrong token or channel → 401 invalid_signature, queue unchanged, nothing delivered', async () => {
    const before = await redis.queueCounters();
    for (const body of [
        notification('Leads', 'insert', ['9990001'], { token: 'not-the-token' }),
        { ...notification('Leads', 'insert', ['9990001']), channel_id: Number(channelId) + 1 },
        (() => { const b = notification('Leads', 'insert', ['9990001']); delete b.token; return b; })(),
    ]) {
        const res = await post(body);
        assert.equal(res.status, 401, h.show(res));
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
        assert.ok(!res.text.includes(token), 'the error must not echo the token');
    }
    assert.deepEqual(await redis.queueCounters(), before, 'a refused notification queued something');
    await h.delay(1000);
    assert.equal(deliveriesOf('9990001').length, 0, 'a refused record was delivered');
});

ctx.test('a redelivered notification → 202 again, queued and delivered once', async () => {
    const body = JSON.stringify(notification('Deals', 'delete', ['7770001']));
    const first = await post(body);
    assert.equal(first.status, 202, h.show(first));
    const c1 = await redis.queueCounters();
    const again = await post(body);
    assert.equal(again.status, 202, `redelivery: ${h.show(again)}`);
    const c2 = await redis.queueCounters();
    assert.equal(c2.added, c1.added, `the redelivery queued again (${c1.added} → ${c2.added})`);
    const p = await delivered('7770001');
    assert.equal(p.type, 'crm.deal.deleted', JSON.stringify(p));
    await h.delay(1500); // quiet period: a duplicate would arrive within it
    assert.equal(deliveriesOf('7770001').length, 1, `record 7770001 delivered ${deliveriesOf('7770001').length}×`);
});

ctx.test('malformed notification → 400 malformed_payload; wrong content type → 415', async () => {
    const before = await redis.queueCounters();
    let res = await post({ ...notification('Leads', 'upsert', ['1']) });
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'malformed_payload', h.show(res));
    res = await post(notification('Leads', 'insert', ['1']), { contentType: 'text/plain' });
    assert.equal(res.status, 415, h.show(res));
    assert.deepEqual(await redis.queueCounters(), before);
});
