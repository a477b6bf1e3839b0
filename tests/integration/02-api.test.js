'use strict';
// Scenario 2: management API — environments (admin only), connections and subscriptions CRUD,
// environment isolation, 401s, the development connection limit, credentials never echoed,
// secrets sealed with WHARF_MASTER_KEY (this file runs without WHARF_INSECURE_DEV).
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const ctx = h.context('api');
let redis, wharf, sink, envA, envB;
const secretA = `hs-secret-${crypto.randomBytes(12).toString('hex')}`;

/* GET /v1/connections or /v1/subscriptions answers an array or {connections|subscriptions: [...]}. */
function listOf(res, key) {
    if (Array.isArray(res.json)) return res.json;
    if (res.json && Array.isArray(res.json[key])) return res.json[key];
    assert.fail(`expected a list (array or {"${key}": [...]}), got ${h.show(res)}`);
}

const hubspotBody = (account, secret, extra = {}) => ({
    integrationId: 'hubspot', externalAccountId: String(account), credentials: { clientSecret: secret },
    sync: { objects: { contacts: true, deals: true } }, ...extra,
});

ctx.before(async () => {
    redis = await ctx.redis();
    wharf = await ctx.wharf({
        redis, env: { WHARF_INSECURE_DEV: undefined, WHARF_MASTER_KEY: crypto.randomBytes(32).toString('base64') },
    });
    sink = await ctx.sink();
});

ctx.test('POST /v1/environments needs the admin token', async () => {
    const none = await wharf.api('POST', '/v1/environments', { json: { name: 'x', kind: 'development' } });
    assert.equal(none.status, 401, `no token: ${h.show(none)}`);
    assert.equal(h.errorCode(none), 'unauthorized', `no token: ${h.show(none)}`);
    const wrong = await wharf.api('POST', '/v1/environments', { token: 'not-the-admin-token-at-all', json: { name: 'x' } });
    assert.equal(wrong.status, 401, `unknown token: ${h.show(wrong)}`);
    assert.equal(h.errorCode(wrong), 'unauthorized', `unknown token: ${h.show(wrong)}`);

    const res = await wharf.api('POST', '/v1/environments', { token: wharf.adminToken, json: { name: 'a', kind: 'development' } });
    assert.equal(res.status, 201, `admin: ${h.show(res)}`);
    assert.equal(typeof res.json.environmentId, 'string', `environmentId: ${h.show(res)}`);
    assert.equal(typeof res.json.apiToken, 'string', `apiToken: ${h.show(res)}`);
    envA = res.json;
    envB = await wharf.createEnvironment({ name: 'b', kind: 'development' });
    assert.notEqual(envA.environmentId, envB.environmentId, 'two environments got the same id');
    assert.notEqual(envA.apiToken, envB.apiToken, 'two environments got the same token');

    // an environment token is not an admin token
    const asEnv = await wharf.api('POST', '/v1/environments', { token: envA.apiToken, json: { name: 'c' } });
    assert.ok(asEnv.status === 401 || asEnv.status === 403, `environment token creating an environment: ${h.show(asEnv)}`);
});

ctx.test('/v1 without a token or with an unknown token answers 401 unauthorized', async () => {
    for (const [m, p] of [['GET', '/v1/connections'], ['POST', '/v1/connections'], ['GET', '/v1/subscriptions'], ['POST', '/v1/subscriptions']]) {
        const body = m === 'POST' ? { json: hubspotBody(1, 'x') } : {};
        const none = await wharf.api(m, p, body);
        assert.equal(none.status, 401, `${m} ${p} without token: ${h.show(none)}`);
        assert.equal(h.errorCode(none), 'unauthorized', `${m} ${p} without token: ${h.show(none)}`);
        const bad = await wharf.api(m, p, { ...body, token: `unknown-${crypto.randomBytes(16).toString('hex')}` });
        assert.equal(bad.status, 401, `${m} ${p} with unknown token: ${h.show(bad)}`);
        assert.equal(h.errorCode(bad), 'unauthorized', `${m} ${p} with unknown token: ${h.show(bad)}`);
    }
});

let connA;
ctx.test('connection CRUD; credentials are never returned', async () => {
    const created = await wharf.api('POST', '/v1/connections', { token: envA.apiToken, json: hubspotBody(62515, secretA) });
    assert.equal(created.status, 201, `create: ${h.show(created)}`);
    const c = created.json;
    assert.equal(typeof c.connectionId, 'string', `connectionId: ${h.show(created)}`);
    assert.equal(c.integrationId, 'hubspot', `integrationId: ${h.show(created)}`);
    assert.equal(c.status, 'NEW_CONNECTION', `status: ${h.show(created)}`);
    assert.equal(c.syncState, 'initial-sync-in-progress', `syncState: ${h.show(created)}`);
    assert.equal(typeof c.webhookUrl, 'string', `webhookUrl: ${h.show(created)}`);
    assert.ok(c.webhookUrl.startsWith(`${h.PUBLIC_URL}/webhooks/hubspot`), `webhookUrl ${c.webhookUrl} is not under ${h.PUBLIC_URL}/webhooks/hubspot`);
    assert.ok(c.createdAt !== undefined, `createdAt missing: ${h.show(created)}`);
    assert.ok(!created.text.includes(secretA), `POST /v1/connections echoed the client secret: ${created.text}`);
    assert.ok(!('credentials' in c) || !JSON.stringify(c.credentials).includes(secretA), 'credentials returned');
    connA = c;

    const got = await wharf.api('GET', `/v1/connections/${c.connectionId}`, { token: envA.apiToken });
    assert.equal(got.status, 200, `GET: ${h.show(got)}`);
    assert.equal(got.json.connectionId, c.connectionId, `GET returned another connection: ${h.show(got)}`);
    assert.equal(got.json.integrationId, 'hubspot', `GET integrationId: ${h.show(got)}`);
    assert.ok(!got.text.includes(secretA), `GET /v1/connections/{id} echoed the client secret: ${got.text}`);

    const list = await wharf.api('GET', '/v1/connections', { token: envA.apiToken });
    assert.equal(list.status, 200, `list: ${h.show(list)}`);
    const ids = listOf(list, 'connections').map((x) => x.connectionId);
    assert.ok(ids.includes(c.connectionId), `list does not contain ${c.connectionId}: ${list.text}`);
    assert.ok(!list.text.includes(secretA), `GET /v1/connections echoed the client secret: ${list.text}`);

    // a second connection, deleted
    const tmp = await wharf.createConnection(envA.apiToken, hubspotBody(70001, 'another-secret-value'));
    const del = await wharf.api('DELETE', `/v1/connections/${tmp.connectionId}`, { token: envA.apiToken });
    assert.ok(del.status === 200 || del.status === 204, `DELETE: ${h.show(del)}`);
    const gone = await wharf.api('GET', `/v1/connections/${tmp.connectionId}`, { token: envA.apiToken });
    assert.equal(gone.status, 404, `GET after DELETE: ${h.show(gone)}`);
    const list2 = await wharf.api('GET', '/v1/connections', { token: envA.apiToken });
    const ids2 = listOf(list2, 'connections').map((x) => x.connectionId);
    assert.ok(!ids2.includes(tmp.connectionId), `deleted connection still listed: ${list2.text}`);
    assert.ok(ids2.includes(c.connectionId), `surviving connection not listed: ${list2.text}`);
});

ctx.test('connection requests are validated (400 invalid_request, 415)', async () => {
    const missing = await wharf.api('POST', '/v1/connections', { token: envA.apiToken, json: { externalAccountId: '1', credentials: { clientSecret: 'x' } } });
    assert.equal(missing.status, 400, `missing integrationId: ${h.show(missing)}`);
    assert.equal(h.errorCode(missing), 'invalid_request', `missing integrationId: ${h.show(missing)}`);
    assert.match(missing.json.error.message, /integrationId/, `message does not name the field: ${h.show(missing)}`);
    const notJson = await wharf.api('POST', '/v1/connections', { token: envA.apiToken, body: 'integrationId=hubspot', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(notJson.status, 415, `form-encoded body: ${h.show(notJson)}`);
});

let subA;
ctx.test('subscription CRUD', async () => {
    const created = await wharf.api('POST', '/v1/subscriptions', { token: envA.apiToken, json: { url: sink.url('/hook'), eventTypes: ['crm.contact.*'] } });
    assert.equal(created.status, 201, `create: ${h.show(created)}`);
    const s = created.json;
    assert.equal(typeof s.subscriptionId, 'string', `subscriptionId: ${h.show(created)}`);
    assert.match(s.secret || '', /^whsec_[A-Za-z0-9+/=]+$/, `secret: ${h.show(created)}`);
    assert.ok(new h.Webhook(s.secret), 'secret is not usable by standardwebhooks');
    assert.equal(s.status, 'active', `status: ${h.show(created)}`);
    subA = s;

    const got = await wharf.api('GET', `/v1/subscriptions/${s.subscriptionId}`, { token: envA.apiToken });
    assert.equal(got.status, 200, `GET: ${h.show(got)}`);
    assert.equal(got.json.subscriptionId, s.subscriptionId, `GET: ${h.show(got)}`);
    assert.equal(got.json.url, sink.url('/hook'), `GET url: ${h.show(got)}`);
    assert.deepEqual(got.json.eventTypes, ['crm.contact.*'], `GET eventTypes: ${h.show(got)}`);

    const list = await wharf.api('GET', '/v1/subscriptions', { token: envA.apiToken });
    assert.equal(list.status, 200, `list: ${h.show(list)}`);
    assert.ok(listOf(list, 'subscriptions').some((x) => x.subscriptionId === s.subscriptionId), `list: ${list.text}`);

    const tmp = await wharf.createSubscription(envA.apiToken, { url: sink.url('/tmp'), eventTypes: ['*'] });
    const del = await wharf.api('DELETE', `/v1/subscriptions/${tmp.subscriptionId}`, { token: envA.apiToken });
    assert.ok(del.status === 200 || del.status === 204, `DELETE: ${h.show(del)}`);
    const gone = await wharf.api('GET', `/v1/subscriptions/${tmp.subscriptionId}`, { token: envA.apiToken });
    assert.equal(gone.status, 404, `GET after DELETE: ${h.show(gone)}`);
});

ctx.test('PATCH a subscription: the given members change, validated as at creation; secret and status do not', async () => {
    const sub = await wharf.createSubscription(envA.apiToken,
        { url: sink.url('/p1'), eventTypes: ['crm.contact.*'], connectionIds: ['c1'], rateLimitPerSecond: 5 });
    const patch = (json, token = envA.apiToken) => wharf.api('PATCH', `/v1/subscriptions/${sub.subscriptionId}`, { token, json });
    const ok = await patch({ url: sink.url('/p2'), eventTypes: ['crm.*', 'system.*'], maxConcurrency: 4, description: 'patched',
        connectionIds: null, rateLimitPerSecond: null, ordered: true });
    assert.equal(ok.status, 200, h.show(ok));
    assert.equal(ok.json.url, sink.url('/p2'), h.show(ok));
    assert.deepEqual(ok.json.eventTypes, ['crm.*', 'system.*'], h.show(ok));
    assert.equal(ok.json.maxConcurrency, 4, h.show(ok));
    assert.equal(ok.json.description, 'patched', h.show(ok));
    assert.equal(ok.json.connectionIds, undefined, `connectionIds: null covers every connection again: ${h.show(ok)}`);
    assert.equal(ok.json.rateLimitPerSecond, null, h.show(ok));
    assert.equal(ok.json.ordered, true, h.show(ok));
    assert.equal(ok.json.secret, undefined, 'PATCH must not show the secret');
    const got = await wharf.api('GET', `/v1/subscriptions/${sub.subscriptionId}`, { token: envA.apiToken });
    assert.deepEqual(got.json, ok.json, 'GET shows what PATCH answered');
    for (const [json, field] of [[{ secret: 'whsec_x' }, 'secret'], [{ status: 'active' }, 'status'], [{ eventTypes: [] }, 'eventTypes'],
        [{ maxConcurrency: 0 }, 'maxConcurrency'], [{ url: 'ftp://x' }, 'url'], [{ url: 'http://bücher.example/' }, 'url'], [{}, 'body'], [{ ordered: 'yes' }, 'ordered']]) {
        const bad = await patch(json);
        assert.equal(bad.status, 400, `${JSON.stringify(json)}: ${h.show(bad)}`);
        assert.equal(h.errorCode(bad), 'invalid_request', h.show(bad));
        assert.match(bad.json.error.message, new RegExp(field), h.show(bad));
    }
    assert.equal((await patch({ description: 'x' }, envB.apiToken)).status, 404, "B patched A's subscription");
    assert.equal((await wharf.api('PATCH', '/v1/subscriptions/sub_nope', { token: envA.apiToken, json: { description: 'x' } })).status, 404);
    assert.deepEqual((await wharf.api('GET', `/v1/subscriptions/${sub.subscriptionId}`, { token: envA.apiToken })).json, ok.json,
        'a refused PATCH changed something');
});

ctx.test('error messages that would echo bytes that are not UTF-8 are answered, not fatal', async () => {
    const q = await h.request(wharf.url('/v1/events?%FF%FE=1'), { headers: { Authorization: `Bearer ${envA.apiToken}` } });
    assert.equal(q.status, 400, h.show(q));
    assert.equal(h.errorCode(q), 'invalid_request', h.show(q));
    const long = await wharf.api('POST', `/v1/connections/${connA.connectionId}/sync/records`, {
        token: envA.apiToken, json: { objectType: `${'a'.repeat(63)}é`, records: [{ id: '1', updatedAt: new Date().toISOString() }] },
    });
    assert.equal(long.status, 400, h.show(long));
    const filter = await wharf.api('GET', `/v1/cache/${connA.connectionId}/contact?filter=%FF:eq:x`, { token: envA.apiToken });
    assert.equal(filter.status, 400, h.show(filter));
    const alive = await h.request(wharf.url('/healthz'));
    assert.equal(alive.status, 200, 'wharf died answering a message with invalid UTF-8');
});

ctx.test("another environment's ids answer 404 (and stay untouched)", async () => {
    assert.ok(connA && subA, 'setup of previous tests failed');
    for (const [m, p] of [
        ['GET', `/v1/connections/${connA.connectionId}`], ['DELETE', `/v1/connections/${connA.connectionId}`],
        ['GET', `/v1/subscriptions/${subA.subscriptionId}`], ['DELETE', `/v1/subscriptions/${subA.subscriptionId}`],
    ]) {
        const r = await wharf.api(m, p, { token: envB.apiToken });
        assert.equal(r.status, 404, `${m} ${p} with environment B's token: ${h.show(r)}`);
    }
    const listB = await wharf.api('GET', '/v1/connections', { token: envB.apiToken });
    assert.equal(listB.status, 200, `B list: ${h.show(listB)}`);
    assert.ok(!listOf(listB, 'connections').some((x) => x.connectionId === connA.connectionId), `B sees A's connection: ${listB.text}`);
    const subsB = await wharf.api('GET', '/v1/subscriptions', { token: envB.apiToken });
    assert.ok(!listOf(subsB, 'subscriptions').some((x) => x.subscriptionId === subA.subscriptionId), `B sees A's subscription: ${subsB.text}`);
    // still there for A
    assert.equal((await wharf.api('GET', `/v1/connections/${connA.connectionId}`, { token: envA.apiToken })).status, 200, "B's DELETE removed A's connection");
    assert.equal((await wharf.api('GET', `/v1/subscriptions/${subA.subscriptionId}`, { token: envA.apiToken })).status, 200, "B's DELETE removed A's subscription");
});

ctx.test('development environments are limited to 5 connections (6th: 403 connection_limit_reached)', async () => {
    const env = await wharf.createEnvironment({ name: 'dev-limit', kind: 'development' });
    for (let i = 1; i <= 5; i++) {
        const r = await wharf.api('POST', '/v1/connections', { token: env.apiToken, json: hubspotBody(80000 + i, `secret-${i}-0123456789`) });
        assert.equal(r.status, 201, `connection #${i}: ${h.show(r)}`);
    }
    const sixth = await wharf.api('POST', '/v1/connections', { token: env.apiToken, json: hubspotBody(80006, 'secret-6-0123456789') });
    assert.equal(sixth.status, 403, `6th connection: ${h.show(sixth)}`);
    assert.equal(h.errorCode(sixth), 'connection_limit_reached', `6th connection: ${h.show(sixth)}`);
});

ctx.test('production environments have no default connection limit (6 connections)', async () => {
    const env = await wharf.createEnvironment({ name: 'prod', kind: 'production' });
    for (let i = 1; i <= 6; i++) {
        const r = await wharf.api('POST', '/v1/connections', { token: env.apiToken, json: hubspotBody(90000 + i, `secret-${i}-0123456789`) });
        assert.equal(r.status, 201, `production connection #${i}: ${h.show(r)}`);
    }
});

ctx.test('with WHARF_MASTER_KEY, secrets and API tokens are not stored in clear in Redis', async () => {
    assert.ok(connA && subA, 'setup of previous tests failed');
    const aof = redis.aofBytes();
    assert.ok(aof.includes(Buffer.from(connA.connectionId)), 'the AOF does not contain the connection id: not reading the right file?');
    assert.ok(!aof.includes(Buffer.from(secretA)), 'the HubSpot client secret is stored in clear in Redis');
    const subKey = subA.secret.slice('whsec_'.length);
    assert.ok(!aof.includes(Buffer.from(subKey)), 'the subscription secret is stored in clear in Redis');
    assert.ok(!aof.includes(Buffer.from(envA.apiToken)), 'the environment API token is stored in clear in Redis (design: stored hashed)');
});
