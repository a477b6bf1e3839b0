'use strict';
// Scenario 29: Salesforce Outbound Messages on the per-connection route: a SOAP notifications message from the
// connection's org is acknowledged with a SOAP <Ack>true</Ack> and delivered as crm.<objectType>.<action> (verified
// with standardwebhooks); another org's message is refused with a SOAP Fault and nothing queued; a redelivery (same
// Notification Id) is acknowledged again and delivered once. A connection with allowedCidrs takes messages only from
// those ranges: here wharf sits behind a "proxy" on loopback (WHARF_TRUSTED_PROXIES), so X-Forwarded-For names the
// client.
const assert = require('node:assert/strict');
const h = require('./harness');

const ctx = h.context('salesforce');
const ORG = '00DIT0000001xYz';
let redis, wharf, sink, env, conn, sub;

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({ redis, env: { WHARF_TRUSTED_PROXIES: '127.0.0.0/8' } });
    sink = await ctx.sink();
    env = await wharf.createEnvironment({ name: 'salesforce', kind: 'development' });
    conn = await wharf.createConnection(env.apiToken, {
        integrationId: 'salesforce', externalAccountId: ORG, credentials: { organizationId: ORG },
        sync: { objects: { contacts: true, accounts: true, deals: true } },
    });
    sub = await wharf.createSubscription(env.apiToken, { url: sink.url('/all'), eventTypes: ['*'] });
});

const modified = new Date(Date.now() - 30000);

/* An Outbound Message in the WSDL's shape, written here (one Contact notification). */
function outbound(notificationId, contactId, { org = ORG, type = 'Contact' } = {}) {
    return '<?xml version="1.0" encoding="UTF-8"?>' +
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">' +
        `<OrganizationId>${org}</OrganizationId><ActionId>04kIT0000000001AAA</ActionId>` +
        '<SessionId xsi:nil="true"/>' +
        `<EnterpriseUrl>https://it.my.salesforce.com/services/Soap/c/61.0/${org}</EnterpriseUrl>` +
        `<PartnerUrl>https://it.my.salesforce.com/services/Soap/u/61.0/${org}</PartnerUrl>` +
        `<Notification><Id>${notificationId}</Id>` +
        `<sObject xsi:type="sf:${type}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">` +
        `<sf:Id>${contactId}</sf:Id><sf:CreatedDate>2024-01-01T00:00:00.000Z</sf:CreatedDate>` +
        `<sf:LastModifiedDate>${modified.toISOString()}</sf:LastModifiedDate>` +
        '<sf:FirstName>Ada</sf:FirstName><sf:LastName>Lovelace</sf:LastName><sf:Email>ada@example.com</sf:Email>' +
        '</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>';
}

function post(body, { connectionId = conn.connectionId, headers = {} } = {}) {
    return h.request(wharf.url(`/webhooks/salesforce/${connectionId}`), {
        method: 'POST', headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '""', ...headers }, body,
    });
}

function assertAck(res) {
    assert.equal(res.status, 200, h.show(res));
    assert.match(res.headers['content-type'], /^text\/xml/, h.show(res));
    assert.match(res.text, /<notificationsResponse xmlns="http:\/\/soap\.sforce\.com\/2005\/09\/outbound"><Ack>true<\/Ack>/,
        h.show(res));
}

ctx.test('Outbound Message → 200 Ack true, delivered as crm.contact.updated and verified by standardwebhooks', async () => {
    const res = await post(outbound('04lIT0000000001AAA', '003IT0000000001AAA'));
    assertAck(res);
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const rec = sink.to('/all').find((r) => r.json?.data?.objectId === '003IT0000000001AAA');
    assert.ok(rec, `no delivery for the contact: ${sink.to('/all').map((r) => r.text).join('\n')}`);
    const payload = h.verifyDelivery(rec, sub.secret);
    const d = payload.data;
    assert.equal(payload.type, 'crm.contact.updated', rec.text);
    assert.equal(d.objectType, 'contact', rec.text);
    assert.equal(d.action, 'updated', rec.text);
    assert.equal(d.integrationId, 'salesforce', rec.text);
    assert.equal(d.connectionId, conn.connectionId, rec.text);
    assert.equal(Date.parse(d.occurredAt), modified.getTime(), `occurredAt ${d.occurredAt}`);
    assert.ok(!rec.text.includes('SessionId'), rec.text);
});

ctx.test('another org → 401 SOAP Fault, nothing queued, nothing delivered', async () => {
    await sink.waitFor('/all', 1, { procs: [wharf.proc] });
    const delivered = sink.to('/all').length;
    const before = await redis.queueCounters();
    for (const body of [
        outbound('04lIT0000000bad1AAA', '003IT00000000badAAA', { org: '00DIT0000009zZz' }),
        outbound('04lIT0000000bad2AAA', '003IT00000000badAAA', { org: ORG.toLowerCase() }),
    ]) {
        const res = await post(body);
        assert.equal(res.status, 401, h.show(res));
        assert.match(res.headers['content-type'], /^text\/xml/, h.show(res));
        assert.match(res.text, /<soapenv:Fault>/, h.show(res));
        assert.match(res.text, /<faultcode>soapenv:Client<\/faultcode>/, h.show(res));
        assert.doesNotMatch(res.text, /<Ack>/, h.show(res));
    }
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    await h.delay(1000);
    assert.equal(sink.to('/all').length, delivered, 'a refused request was delivered');
    assert.ok(!sink.to('/all').some((r) => r.json?.data?.objectId === '003IT00000000badAAA'));
});

ctx.test('redelivery (same Notification Id) → Ack again, delivered once', async () => {
    const body = outbound('04lIT0000000002AAA', '003IT0000000002AAA');
    assertAck(await post(body));
    assertAck(await post(body));
    await sink.waitFor('/all', 2, { procs: [wharf.proc] });
    await h.delay(1500);
    const recs = sink.to('/all').filter((r) => r.json?.data?.objectId === '003IT0000000002AAA');
    assert.equal(recs.length, 1, `expected one delivery, got ${recs.length}`);
    h.verifyDelivery(recs[0], sub.secret);
});

ctx.test('allowedCidrs: invalid ranges are refused at creation', async () => {
    for (const [cidrs, msg] of [[['10.0.0.1/8'], /allowedCidrs\[0\]: host bits set/], [[], /array of 1 to 64/],
        [['salesforce.com'], /allowedCidrs\[0\]: not an IP address/]]) {
        const res = await wharf.api('POST', '/v1/connections', {
            token: env.apiToken,
            json: { integrationId: 'salesforce', externalAccountId: 'x', credentials: { organizationId: ORG, allowedCidrs: cidrs } },
        });
        assert.equal(res.status, 400, h.show(res));
        assert.match(res.text, msg, h.show(res));
    }
});

ctx.test('allowedCidrs: the client behind the trusted proxy must be in range (403 SOAP Fault otherwise, nothing queued)', async () => {
    const ranged = await wharf.createConnection(env.apiToken, {
        integrationId: 'salesforce', externalAccountId: ORG,
        credentials: { organizationId: ORG, allowedCidrs: ['203.0.113.0/24', '2001:db8:5f::/48'] },
        sync: { objects: { contacts: true } },
    });
    const before = await redis.queueCounters();
    for (const headers of [{}, { 'X-Forwarded-For': '198.51.100.9' }, { 'X-Forwarded-For': '203.0.113.5, 198.51.100.9' },
        { 'X-Forwarded-For': '203.0.113.5:443' }]) {
        const res = await post(outbound('04lIT00000000cidrAAA', '003IT00000000cidrAAA'), { connectionId: ranged.connectionId, headers });
        assert.equal(res.status, 403, `${JSON.stringify(headers)} ${h.show(res)}`);
        assert.match(res.text, /<soapenv:Fault>/, h.show(res));
        assert.match(res.text, /address_not_allowed|allowedCidrs/, h.show(res));
    }
    assert.deepEqual(await redis.queueCounters(), before, 'the queue changed on refused requests');
    for (const [i, xff] of ['203.0.113.5', '198.51.100.9, 203.0.113.77', '2001:db8:5f::1, 127.0.0.1'].entries()) {
        const res = await post(outbound(`04lIT0000000cid${i}AAA`, `003IT0000000cid${i}AAA`),
            { connectionId: ranged.connectionId, headers: { 'X-Forwarded-For': xff } });
        assertAck(res);
    }
    await h.waitUntil(() => ['0', '1', '2'].every((i) => sink.to('/all').some((r) => r.json?.data?.objectId === `003IT0000000cid${i}AAA`)),
        { what: 'the three in-range messages delivered', procs: [wharf.proc] });
});

ctx.test('a custom object (Invoice__c) → crm.salesforce:invoice__c.updated, selectable by its own prefix', async () => {
    const custom = await wharf.createSubscription(env.apiToken, { url: sink.url('/custom'), eventTypes: ['crm.salesforce:invoice__c.*'] });
    assertAck(await post(outbound('04lIT0000000inv1AAA', 'a01IT0000000001AAA', { type: 'Invoice__c' })));
    await sink.waitFor('/custom', 1, { procs: [wharf.proc] });
    const rec = sink.to('/custom')[0];
    const payload = h.verifyDelivery(rec, custom.secret);
    assert.equal(payload.type, 'crm.salesforce:invoice__c.updated', rec.text);
    assert.equal(payload.data.objectType, 'salesforce:invoice__c', rec.text);
    assert.equal(payload.data.details.salesforceObjectType, 'Invoice__c', rec.text);
    assert.equal(payload.data.fields.additional.FirstName, 'Ada', rec.text);
    await h.delay(500);
    assert.equal(sink.to('/custom').length, 1, 'only the custom object reaches the custom subscription');
});
