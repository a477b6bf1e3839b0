'use strict';
// Scenario 25: Dynamics 365 / Dataverse on its per-connection route. A RemoteExecutionContext authenticated by the
// shared key (HttpHeader on one connection, the WebhookKey `code` query parameter on another) becomes
// crm.<objectType>.<action>; a wrong or missing key is refused with nothing queued; a redelivery (the one 5xx retry
// Dataverse makes: same OperationId) is delivered once.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('dynamics');
const headerKey = crypto.randomBytes(24).toString('base64');
const codeKey = `${crypto.randomBytes(18).toString('base64')}+/=`; // characters that must be percent-encoded in a query
const ORG = 'https://contoso.crm.dynamics.com';
let redis, wharf, sink, env, byHeader, byCode, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'dynamics', kind: 'development' });
    byHeader = await wharf.createConnection(env.apiToken, {
        integrationId: 'dynamics', externalAccountId: ORG, credentials: { key: headerKey, headerName: 'X-Wharf-Key' },
        sync: { objects: { contacts: true, deals: true } },
    });
    byCode = await wharf.createConnection(env.apiToken, {
        integrationId: 'dynamics', externalAccountId: `${ORG}/2`, credentials: { key: codeKey }, sync: { objects: { contacts: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

/* A RemoteExecutionContext as Dataverse serializes it (WCF dates, Attributes as key/value pairs). */
function context({ message = 'Update', entity = 'contact', id = crypto.randomUUID(), operationId = crypto.randomUUID(), at = Date.now() - 1000,
    attributes = { firstname: 'Ada', emailaddress1: 'ada@example.com' } } = {}) {
    return {
        BusinessUnitId: crypto.randomUUID(), CorrelationId: crypto.randomUUID(), Depth: 1, InitiatingUserId: crypto.randomUUID(),
        InputParameters: [{
            key: 'Target',
            value: {
                __type: 'Entity:http://schemas.microsoft.com/xrm/2011/Contracts',
                Attributes: Object.entries(attributes).map(([key, value]) => ({ key, value })),
                Id: id, LogicalName: entity,
            },
        }],
        IsExecutingOffline: false, IsInTransaction: false, IsOfflinePlayback: false, IsolationMode: 1,
        MessageName: message, Mode: 1, OperationCreatedOn: `/Date(${at}-0700)/`, OperationId: operationId,
        OrganizationId: crypto.randomUUID(), OrganizationName: 'contoso', OutputParameters: [], ParentContext: null,
        PostEntityImages: [], PreEntityImages: [], PrimaryEntityId: id, PrimaryEntityName: entity, RequestId: null,
        SecondaryEntityName: 'none', SharedVariables: [], Stage: 40, UserId: crypto.randomUUID(),
    };
}

/* JSON as Dataverse writes it: "/" escaped as "\/" (the WCF serializer does). */
const serialize = (ctxObj) => JSON.stringify(ctxObj).replace(/\//g, '\\/');

function post(conn, body, { headers = {}, query = '' } = {}) {
    return h.request(wharf.url(`/webhooks/dynamics/${conn.connectionId}${query}`), {
        method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8', 'x-ms-dynamics-request-name': 'Update', ...headers }, body,
    });
}
const code = (key) => `?code=${encodeURIComponent(key)}`;
const deliveriesOf = (objectId) => sink.to('/all').filter((r) => r.json?.data?.objectId === objectId);

ctx.test('contact Update with the key header → 202, delivered as crm.contact.updated (standardwebhooks-verified)', async () => {
    const c = context({ at: Date.now() - 5000 });
    const res = await post(byHeader, serialize(c), { headers: { 'x-wharf-key': headerKey } });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { accepted: 1 }, h.show(res));
    await h.waitUntil(() => deliveriesOf(c.PrimaryEntityId).length >= 1, { timeout: 15000, what: 'delivery', procs: [wharf.proc] });
    const rec = deliveriesOf(c.PrimaryEntityId)[0];
    const p = h.verifyDelivery(rec, sub.secret);
    assert.equal(p.type, 'crm.contact.updated', rec.text);
    assert.equal(p.data.objectType, 'contact', rec.text);
    assert.equal(p.data.action, 'updated', rec.text);
    assert.equal(p.data.integrationId, 'dynamics', rec.text);
    assert.equal(p.data.connectionId, byHeader.connectionId, rec.text);
    assert.equal(p.data.thin, false, rec.text);
    assert.deepEqual(p.data.changedFields, ['firstName', 'email'], rec.text);
    assert.equal(Date.parse(p.data.occurredAt), c.OperationCreatedOn.match(/\d+/)[0] * 1, `occurredAt is OperationCreatedOn: ${rec.text}`);
    assert.equal(p.data.object?.email, 'ada@example.com', `cached record: ${rec.text}`);
});

ctx.test('opportunity Create with ?code= (WebhookKey) → crm.deal.created', async () => {
    const c = context({ message: 'Create', entity: 'opportunity', attributes: { name: 'Big deal', estimatedvalue: { __type: 'Money:http://schemas.microsoft.com/xrm/2011/Contracts', Value: 1500 } } });
    const res = await post(byCode, serialize(c), { query: code(codeKey) });
    assert.equal(res.status, 202, h.show(res));
    await h.waitUntil(() => deliveriesOf(c.PrimaryEntityId).length >= 1, { timeout: 15000, what: 'delivery', procs: [wharf.proc] });
    const p = h.verifyDelivery(deliveriesOf(c.PrimaryEntityId)[0], sub.secret);
    assert.equal(p.type, 'crm.deal.created');
    assert.equal(p.data.connectionId, byCode.connectionId);
});

ctx.test('wrong or missing key → 401 invalid_signature, nothing queued, nothing delivered', async () => {
    await h.delay(500);
    const delivered = sink.to('/all').length;
    const before = await redis.queueCounters();
    const c = context();
    const body = serialize(c);
    const attempts = [
        [byHeader, { headers: { 'x-wharf-key': `${headerKey}x` } }],
        [byHeader, { headers: { 'x-wharf-key': '' } }],
        [byHeader, {}],
        [byHeader, { query: code(headerKey) }], // a header connection does not take the key from the query
        [byCode, { query: code(`${codeKey}x`) }],
        [byCode, { query: code(headerKey) }], // another connection's key
        [byCode, { query: '?codex=1' }],
        [byCode, { headers: { code: codeKey } }],
    ];
    for (const [conn, opts] of attempts) {
        const res = await post(conn, body, opts);
        assert.equal(res.status, 401, `${JSON.stringify(opts)}: ${h.show(res)}`);
        assert.equal(h.errorCode(res), 'invalid_signature', h.show(res));
        assert.ok(!res.text.includes(headerKey) && !res.text.includes(codeKey), 'the answer echoes a key');
    }
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    await h.delay(1000);
    assert.equal(sink.to('/all').length, delivered, 'a refused request was delivered');
    assert.equal(deliveriesOf(c.PrimaryEntityId).length, 0);
});

ctx.test('redelivery (Dataverse retries a 503 once: same context) → 202 twice, delivered once', async () => {
    const c = context({ message: 'Delete', attributes: {} });
    c.InputParameters = [{ key: 'Target', value: { __type: 'EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts', Id: c.PrimaryEntityId, LogicalName: 'contact' } }];
    const body = serialize(c);
    const c0 = await redis.queueCounters();
    const first = await post(byHeader, body, { headers: { 'x-wharf-key': headerKey } });
    assert.equal(first.status, 202, h.show(first));
    const c1 = await redis.queueCounters();
    const again = await post(byHeader, body, { headers: { 'X-Wharf-Key': headerKey } });
    assert.equal(again.status, 202, h.show(again));
    const c2 = await redis.queueCounters();
    assert.ok(c1.added > c0.added, 'the first post queued nothing');
    assert.equal(c2.added, c1.added, 'the redelivery queued again');
    await h.waitUntil(() => deliveriesOf(c.PrimaryEntityId).length >= 1, { timeout: 15000, what: 'delivery', procs: [wharf.proc] });
    await h.delay(1500);
    const recs = deliveriesOf(c.PrimaryEntityId);
    assert.equal(recs.length, 1, `delivered ${recs.length}×`);
    const p = h.verifyDelivery(recs[0], sub.secret);
    assert.equal(p.type, 'crm.contact.deleted');
    assert.equal(p.data.thin, true);
});

ctx.test('unsupported MessageName → 400 malformed_payload; credentials are validated at creation', async () => {
    const res = await post(byHeader, serialize(context({ message: 'Retrieve' })), { headers: { 'x-wharf-key': headerKey } });
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'malformed_payload', h.show(res));
    const bad = await wharf.api('POST', '/v1/connections', {
        token: env.apiToken, json: { integrationId: 'dynamics', externalAccountId: 'x', credentials: { headerName: 'X-Key' }, sync: { objects: {} } },
    });
    assert.equal(bad.status, 400, h.show(bad));
    assert.match(bad.text, /credentials\.key/, h.show(bad));
});
