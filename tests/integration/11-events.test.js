'use strict';
// Scenario 11: event inspection and re-sending (design §6). GET /v1/events lists an environment's events newest
// first with a cursor that visits each exactly once; GET /v1/events/{id} shows the stored body and each
// subscription's delivery state; /attempts lists every attempt; redeliver and replay send an event again with its
// ORIGINAL webhook-id (verified with the official Standard Webhooks and Svix libraries). Another environment sees
// none of it.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { hubspot } = h;

const ctx = h.context('events');

const { partitionOf } = h;

let s; // the shared stack

ctx.before(async () => {
    const secret = `hs-app-secret-${crypto.randomBytes(8).toString('hex')}`;
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis, env: { WHARF_RETRY_SCHEDULE: '300ms,300ms' } });
    const sink = await ctx.sink();
    const env = await wharf.createEnvironment({ name: 'events', kind: 'development' });
    const other = await wharf.createEnvironment({ name: 'other', kind: 'development' });
    const conn = await wharf.createHubSpotConnection(env.apiToken, { portalId: hubspot.PORTAL, secret });
    s = { secret, redis, wharf, sink, env, other, conn };
});

const api = (method, p, opts = {}) => s.wharf.api(method, p, { token: s.env.apiToken, ...opts });

function invalid(res, field) {
    assert.equal(res.status, 400, h.show(res));
    assert.equal(h.errorCode(res), 'invalid_request', h.show(res));
    assert.ok(res.json.error.message.startsWith(field), `the message must name ${field}: ${h.show(res)}`);
}

/* Every page of GET /v1/events?<query>&limit=<limit>, following nextCursor; returns the events in order. */
async function allPages(query, limit, token = s.env.apiToken) {
    const out = [];
    let cursor = null;
    for (let pages = 0; ; pages++) {
        assert.ok(pages < 1000, 'pagination does not end');
        const q = new URLSearchParams(query);
        q.set('limit', String(limit));
        if (cursor) q.set('cursor', cursor);
        const res = await s.wharf.api('GET', `/v1/events?${q}`, { token });
        assert.equal(res.status, 200, h.show(res));
        assert.ok(res.json.events.length <= limit, `a page of ${res.json.events.length} events for limit=${limit}`);
        out.push(...res.json.events);
        cursor = res.json.nextCursor;
        if (cursor === null) return out;
        assert.equal(typeof cursor, 'string', h.show(res));
    }
}

ctx.test('bad input → 400 invalid_request naming the field', async () => {
    invalid(await api('GET', '/v1/events?limit=0'), 'limit');
    invalid(await api('GET', '/v1/events?limit=201'), 'limit');
    invalid(await api('GET', '/v1/events?limit=abc'), 'limit');
    invalid(await api('GET', '/v1/events?limit=1&limit=2'), 'limit');
    invalid(await api('GET', '/v1/events?colour=blue'), 'colour');
    invalid(await api('GET', '/v1/events?cursor=garbage'), 'cursor');
    invalid(await api('GET', '/v1/events?cursor=%ZZ'), 'cursor');
    invalid(await api('GET', '/v1/events?type=Crm%20Contact'), 'type');
    invalid(await api('GET', '/v1/events?connectionId=a%2Fb'), 'connectionId');
    invalid(await api('GET', '/v1/events/evt_0/attempts?subscriptionId=a%2Fb'), 'subscriptionId');
    invalid(await api('GET', '/v1/events/evt_0/attempts?foo=1'), 'foo');

    invalid(await api('POST', '/v1/events/evt_0/redeliver', { json: {} }), 'subscriptionId');
    invalid(await api('POST', '/v1/events/evt_0/redeliver', { json: { subscriptionId: 5 } }), 'subscriptionId');
    invalid(await api('POST', '/v1/events/evt_0/redeliver', { json: { subscriptionId: 'sub_x', extra: 1 } }), 'extra');

    const sub = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/unused'), eventTypes: ['crm.lead.*'] });
    const replay = (json) => api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { json });
    invalid(await replay({}), 'since');
    invalid(await replay({ since: 'yesterday' }), 'since');
    invalid(await replay({ since: '2024-11-23T10:00:00.000Z', until: 'now' }), 'until');
    invalid(await replay({ since: '2024-11-23T10:00:00.000Z', until: '2024-11-23T09:00:00.000Z' }), 'since');
    invalid(await replay({ since: '2024-11-23T10:00:00.000Z', onlyFailed: 'yes' }), 'onlyFailed');
    invalid(await replay({ since: '2024-11-23T10:00:00.000Z', limit: 3 }), 'limit');
    assert.equal(h.errorCode(await api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { body: '{}' })), 'unsupported_media_type');

    // unknown ids: 404, before and after validation
    const missing = await api('GET', '/v1/events/evt_00000000000000000000000000000000');
    assert.equal(missing.status, 404, h.show(missing));
    assert.equal(h.errorCode(missing), 'not_found');
    const noSub = await api('POST', '/v1/subscriptions/sub_nope/replay', { json: { since: '2024-11-23T10:00:00.000Z' } });
    assert.equal(noSub.status, 404, h.show(noSub));
    const unauth = await s.wharf.api('GET', '/v1/events');
    assert.equal(unauth.status, 401, h.show(unauth));
});

/* An event's record in its minute bucket (queue/evrec.h): a header line {"s": states, "a": attempts}, then the body. */
const bucketKey = (p, at) => `wh:evb:{p${p}}:${Math.floor(at / 60000)}`;
const record = (states, body) => `${JSON.stringify({ s: states, a: [] })}\n${JSON.stringify(body)}`;

ctx.test('pagination over seeded indexes: newest first, ties in one millisecond, every event exactly once', async () => {
    // Written exactly as the worker writes them (queue/keys.h, queue/scripts/settle.lua), in a fresh environment of its own.
    const e = await s.wharf.createEnvironment({ name: 'seeded', kind: 'development' });
    const base = Date.now() - 60000;
    const expected = [];
    const conns = ['conn_a', 'conn_b', 'conn_c', 'conn_d', 'conn_e'];
    let n = 0;
    for (const conn of conns) {
        const p = partitionOf(conn);
        for (let k = 0; k < 7; k++) {
            const id = `evt_${crypto.randomBytes(16).toString('hex')}`;
            // several events share a millisecond, within and across partitions
            const at = base + (k % 3) * 1000;
            const type = n % 2 ? 'crm.contact.updated' : 'crm.deal.created';
            const body = { type, timestamp: new Date(at).toISOString(), data: { eventId: id, connectionId: conn, integrationId: 'hubspot', objectType: type.split('.')[1], objectId: String(n), action: type.split('.')[2], object: { id: String(n) } } };
            await s.redis.cli('ZADD', `wh:evi:{p${p}}:${e.environmentId}`, String(at), id);
            await s.redis.cli('HSET', bucketKey(p, at), id, record({}, body));
            expected.push({ id, at, type, conn });
            n++;
        }
    }
    const order = (a, b) => (b.at - a.at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
    expected.sort(order);
    for (const limit of [1, 2, 3, 50, 200]) {
        const got = await allPages({}, limit, e.apiToken);
        assert.deepEqual(got.map((x) => x.eventId), expected.map((x) => x.id), `limit=${limit}: wrong events or order`);
    }
    const one = (await allPages({}, 200, e.apiToken))[0];
    assert.equal(one.receivedAt, new Date(expected[0].at).toISOString());
    assert.equal(one.type, expected[0].type);
    assert.equal(one.connectionId, expected[0].conn);
    assert.equal(one.integrationId, 'hubspot');
    assert.equal(one.object, undefined, 'the list shows a summary, not the record');

    const deals = await allPages({ type: 'crm.deal.*' }, 2, e.apiToken);
    assert.deepEqual(deals.map((x) => x.eventId), expected.filter((x) => x.type.startsWith('crm.deal.')).map((x) => x.id));
    const exact = await allPages({ type: 'crm.contact.updated' }, 3, e.apiToken);
    assert.deepEqual(exact.map((x) => x.eventId), expected.filter((x) => x.type === 'crm.contact.updated').map((x) => x.id));
    const byConn = await allPages({ connectionId: 'conn_c' }, 2, e.apiToken);
    assert.deepEqual(byConn.map((x) => x.eventId), expected.filter((x) => x.conn === 'conn_c').map((x) => x.id));
    const none = await allPages({ connectionId: 'conn_zzz' }, 2, e.apiToken);
    assert.deepEqual(none, []);

    // the seeded events belong to that environment only
    assert.deepEqual((await allPages({}, 200, s.other.apiToken)), []);
    const foreign = await s.wharf.api('GET', `/v1/events/${expected[0].id}`, { token: s.other.apiToken });
    assert.equal(foreign.status, 404, h.show(foreign));
    const mine = await s.wharf.api('GET', `/v1/events/${expected[0].id}`, { token: e.apiToken });
    assert.equal(mine.status, 200, h.show(mine));
    assert.equal(mine.json.payload.data.eventId, expected[0].id);
    assert.deepEqual(mine.json.deliveries, []);
});

/* wh_webhook_id (dispatch/sign.h): "msg_" + 32 hex of SHA-256(eventId ":" subscriptionId). */
const webhookId = (eventId, subId) => 'msg_' + crypto.createHash('sha256').update(`${eventId}:${subId}`).digest('hex').slice(0, 32);

ctx.test('seeded dead and delivered deliveries: replay onlyFailed re-queues only the dead one, redeliver any; disabled → 409', async () => {
    const e = await s.wharf.createEnvironment({ name: 'seeded-resend', kind: 'development' });
    const sub = await s.wharf.createSubscription(e.apiToken, { url: s.sink.url('/seeded'), eventTypes: ['crm.*'] });
    const conn = 'conn_seeded';
    const p = partitionOf(conn);
    const at = Date.now() - 5000;
    const seed = async (state) => {
        const id = `evt_${crypto.randomBytes(16).toString('hex')}`;
        const wid = webhookId(id, sub.subscriptionId);
        const body = { type: 'crm.contact.updated', timestamp: new Date(at).toISOString(), data: { eventId: id, connectionId: conn, integrationId: 'hubspot', objectType: 'contact', objectId: '1', action: 'updated' } };
        await s.redis.cli('ZADD', `wh:evi:{p${p}}:${e.environmentId}`, String(at), id);
        await s.redis.cli('HSET', bucketKey(p, at), id, record({ [sub.subscriptionId]: `${state}:${wid}` }, body));
        if (state === 'dead') {
            await s.redis.cli('HSET', `wh:d:{p${p}}:${wid}`, 'event', id, 'sub', sub.subscriptionId, 'env', e.environmentId, 'conn', conn,
                'type', 'crm.contact.updated', 'attempt', '3', 'created', String(at), 'state', 'dead');
            await s.redis.cli('ZADD', `wh:dlq:{p${p}}`, String(at), wid);
        }
        return { id, wid };
    };
    const dead = await seed('dead');
    const done = await seed('delivered');
    const tok = { token: e.apiToken };

    const got = await s.wharf.api('GET', `/v1/events/${dead.id}`, tok);
    assert.deepEqual(got.json.deliveries, [{ subscriptionId: sub.subscriptionId, webhookId: dead.wid, status: 'dead' }], h.show(got));

    const since = new Date(at - 1000).toISOString();
    const replay = await s.wharf.api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { ...tok, json: { since, onlyFailed: true } });
    assert.equal(replay.status, 202, h.show(replay));
    assert.deepEqual(replay.json, { replayed: 1 });
    assert.equal((await s.redis.cli('ZSCORE', `wh:dlq:{p${p}}`, dead.wid)).trim(), '', 'the dead letter must leave the dead-letter set');
    await s.sink.waitFor('/seeded', 1, { procs: [s.wharf.proc] });
    const rec = s.sink.to('/seeded')[0];
    assert.equal(h.verifyDelivery(rec, sub.secret).data.eventId, dead.id);
    assert.equal(rec.headers['webhook-id'], dead.wid, 'replay must reuse the original webhook-id');

    const redeliver = await s.wharf.api('POST', `/v1/events/${done.id}/redeliver`, { ...tok, json: { subscriptionId: sub.subscriptionId } });
    assert.equal(redeliver.status, 202, h.show(redeliver));
    await s.sink.waitFor('/seeded', 2, { procs: [s.wharf.proc] });
    const rec2 = s.sink.to('/seeded')[1];
    assert.equal(h.verifyDelivery(rec2, sub.secret).data.eventId, done.id);
    assert.equal(rec2.headers['webhook-id'], done.wid);

    // a disabled subscription: 409 subscription_disabled for both
    const key = `wh:subs:{e:${e.environmentId}}`;
    const stored = JSON.parse(await s.redis.cli('HGET', key, sub.subscriptionId));
    await s.redis.cli('HSET', key, sub.subscriptionId, JSON.stringify({ ...stored, status: 'disabled', disabledReason: 'test' }));
    const r1 = await s.wharf.api('POST', `/v1/events/${done.id}/redeliver`, { ...tok, json: { subscriptionId: sub.subscriptionId } });
    assert.equal(r1.status, 409, h.show(r1));
    assert.equal(h.errorCode(r1), 'subscription_disabled');
    const r2 = await s.wharf.api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { ...tok, json: { since } });
    assert.equal(r2.status, 409, h.show(r2));
    assert.equal(h.errorCode(r2), 'subscription_disabled');
    await s.redis.cli('HSET', key, sub.subscriptionId, JSON.stringify(stored));
});

/* ---- with the worker: real deliveries --------------------------------------------------------------------- */

let flaky; // {sub, eventIds}

ctx.test('listed, inspected, attempts (500 then 200) after HubSpot webhooks', async () => {
    s.sink.script('/flaky', [{ status: 500 }, { status: 200 }]);
    const sub = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/flaky'), eventTypes: ['crm.contact.*'] });
    const res = await s.wharf.postHubSpot({ events: [hubspot.propertyChange('contact', { objectId: 1101 })], secret: s.secret });
    assert.equal(res.status, 202, h.show(res));
    await s.sink.waitFor('/flaky', 2, { procs: [s.wharf.proc] });
    const [first, second] = s.sink.to('/flaky');
    const payload = h.verifyDelivery(second, sub.secret);
    const eventId = payload.data.eventId;
    assert.equal(first.headers['webhook-id'], second.headers['webhook-id']);

    // delivered, as seen by GET /v1/events/{id}
    const got = await h.waitUntil(async () => {
        const r = await api('GET', `/v1/events/${eventId}`);
        return r.status === 200 && r.json.deliveries.some((d) => d.status === 'delivered') ? r : null;
    }, { timeout: 10000, what: `GET /v1/events/${eventId} with a delivered delivery`, procs: [s.wharf.proc] });
    assert.equal(got.json.eventId, eventId);
    assert.equal(got.json.type, 'crm.contact.updated');
    assert.match(got.json.receivedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(got.json.payload, payload, 'payload must be the body that was delivered');
    assert.deepEqual(got.json.deliveries, [{ subscriptionId: sub.subscriptionId, webhookId: second.headers['webhook-id'], status: 'delivered' }]);

    // attempts: the 500, then the 200
    const att = await h.waitUntil(async () => {
        const r = await api('GET', `/v1/events/${eventId}/attempts`);
        return r.status === 200 && r.json.attempts.length >= 2 ? r : null;
    }, { timeout: 10000, what: 'two attempt records', procs: [s.wharf.proc] });
    const a = att.json.attempts;
    assert.equal(a.length, 2, h.show(att));
    assert.deepEqual(a.map((x) => x.statusCode), [500, 200], h.show(att));
    for (const [i, x] of a.entries()) {
        assert.equal(x.subscriptionId, sub.subscriptionId, h.show(att));
        assert.equal(x.webhookId, second.headers['webhook-id'], h.show(att));
        assert.equal(typeof x.latencyMs, 'number', h.show(att));
        assert.equal(typeof x.attemptedAt, 'string', h.show(att));
        assert.equal(x.attempt, i + 1, h.show(att));
    }
    const filtered = await api('GET', `/v1/events/${eventId}/attempts?subscriptionId=${sub.subscriptionId}`);
    assert.equal(filtered.json.attempts.length, 2, h.show(filtered));
    const none = await api('GET', `/v1/events/${eventId}/attempts?subscriptionId=sub_other`);
    assert.deepEqual(none.json, { attempts: [] });

    // listed
    const list = await api('GET', '/v1/events');
    assert.equal(list.status, 200, h.show(list));
    const item = list.json.events.find((x) => x.eventId === eventId);
    assert.ok(item, `event ${eventId} not listed: ${h.show(list)}`);
    assert.equal(item.type, 'crm.contact.updated');
    assert.equal(item.connectionId, s.conn.connectionId);
    assert.equal(item.receivedAt, got.json.receivedAt);
    flaky = { sub, eventIds: [eventId] };
});

ctx.test('limit=1 with the cursor visits every event of the environment exactly once', async () => {
    assert.ok(flaky, 'needs the previous test');
    s.sink.script('/flaky', [{ status: 200 }]);
    const before = s.sink.to('/flaky').length;
    const res = await s.wharf.postHubSpot({
        events: [1102, 1103, 1104].map((objectId) => hubspot.propertyChange('contact', { objectId })), secret: s.secret,
    });
    assert.equal(res.status, 202, h.show(res));
    await s.sink.waitFor('/flaky', before + 3, { procs: [s.wharf.proc] });
    const all = await h.waitUntil(async () => {
        const l = await allPages({}, 200);
        return l.length >= 4 ? l : null;
    }, { timeout: 10000, what: 'four events listed' });
    const paged = await allPages({}, 1);
    assert.deepEqual(paged.map((x) => x.eventId), all.map((x) => x.eventId));
    assert.equal(new Set(paged.map((x) => x.eventId)).size, paged.length, 'an event was listed twice');
    for (let i = 1; i < paged.length; i++) assert.ok(paged[i - 1].receivedAt >= paged[i].receivedAt, 'not newest first');
    const byConn = await allPages({ connectionId: s.conn.connectionId, type: 'crm.contact.*' }, 1);
    assert.deepEqual(byConn.map((x) => x.eventId), all.map((x) => x.eventId));
    assert.deepEqual(await allPages({ type: 'crm.deal.*' }, 5), []);
});

ctx.test('another environment: 404 on get, attempts, redeliver, replay; an empty list', async () => {
    assert.ok(flaky, 'needs the previous tests');
    const [eventId] = flaky.eventIds;
    const tok = { token: s.other.apiToken };
    for (const [m, p, json] of [
        ['GET', `/v1/events/${eventId}`],
        ['GET', `/v1/events/${eventId}/attempts`],
        ['POST', `/v1/events/${eventId}/redeliver`, { subscriptionId: flaky.sub.subscriptionId }],
        ['POST', `/v1/subscriptions/${flaky.sub.subscriptionId}/replay`, { since: '2020-01-01T00:00:00Z' }],
    ]) {
        const r = await s.wharf.api(m, p, { ...tok, json });
        assert.equal(r.status, 404, `${m} ${p}: ${h.show(r)}`);
        assert.equal(h.errorCode(r), 'not_found');
    }
    const list = await s.wharf.api('GET', '/v1/events', tok);
    assert.equal(list.status, 200, h.show(list));
    assert.deepEqual(list.json, { events: [], nextCursor: null });
    // and the owner with another environment's subscription id: 404 too
    const otherSub = await s.wharf.createSubscription(s.other.apiToken, { url: s.sink.url('/x'), eventTypes: ['*'] });
    const r = await api('POST', `/v1/events/${eventId}/redeliver`, { json: { subscriptionId: otherSub.subscriptionId } });
    assert.equal(r.status, 404, h.show(r));
});

ctx.test('redeliver → the sink receives the event again with the same webhook-id', async () => {
    assert.ok(flaky, 'needs the previous tests');
    const [eventId] = flaky.eventIds;
    s.sink.script('/flaky', [{ status: 200 }]);
    const original = s.sink.to('/flaky').find((r) => r.json && r.json.data.eventId === eventId);
    const before = s.sink.to('/flaky').length;
    const res = await api('POST', `/v1/events/${eventId}/redeliver`, { json: { subscriptionId: flaky.sub.subscriptionId } });
    assert.equal(res.status, 202, h.show(res));
    assert.deepEqual(res.json, { redelivered: 1 });
    await s.sink.waitFor('/flaky', before + 1, { procs: [s.wharf.proc] });
    const again = s.sink.to('/flaky').slice(before);
    assert.equal(again.length, 1, 'one redelivery');
    const p = h.verifyDelivery(again[0], flaky.sub.secret);
    assert.equal(p.data.eventId, eventId);
    assert.equal(again[0].headers['webhook-id'], original.headers['webhook-id'], 'redelivery must reuse the webhook-id');

    const unknownSub = await api('POST', `/v1/events/${eventId}/redeliver`, { json: { subscriptionId: 'sub_unknown' } });
    assert.equal(unknownSub.status, 404, h.show(unknownSub));
    const unknownEvent = await api('POST', '/v1/events/evt_ffffffffffffffffffffffffffffffff/redeliver', { json: { subscriptionId: flaky.sub.subscriptionId } });
    assert.equal(unknownEvent.status, 404, h.show(unknownEvent));

    // replay of delivered events: onlyFailed queues none of them, without it all of them
    const since = new Date(Date.now() - 10 * 60000).toISOString();
    const onlyFailed = await api('POST', `/v1/subscriptions/${flaky.sub.subscriptionId}/replay`, { json: { since, onlyFailed: true } });
    assert.equal(onlyFailed.status, 202, h.show(onlyFailed));
    assert.deepEqual(onlyFailed.json, { replayed: 0 });
});

ctx.test('replay {since, onlyFailed} of dead deliveries → sent again with the same webhook-ids once the sink is back', async () => {
    s.sink.script('/down', [{ status: 500 }]);
    const sub = await s.wharf.createSubscription(s.env.apiToken, { url: s.sink.url('/down'), eventTypes: ['crm.deal.*'] });
    const since = new Date(Date.now() - 1000).toISOString();
    const res = await s.wharf.postHubSpot({
        events: [hubspot.propertyChange('deal', { objectId: 1201 }), hubspot.propertyChange('deal', { objectId: 1202 })], secret: s.secret,
    });
    assert.equal(res.status, 202, h.show(res));
    // 1 + 2 retries each, then dead
    await s.sink.waitFor('/down', 6, { procs: [s.wharf.proc] });
    const firstRound = s.sink.to('/down');
    const ids = new Map(); // eventId -> webhook-id
    for (const r of firstRound) ids.set(h.verifyDelivery(r, sub.secret).data.eventId, r.headers['webhook-id']);
    assert.equal(ids.size, 2);
    for (const eventId of ids.keys()) {
        await h.waitUntil(async () => {
            const r = await api('GET', `/v1/events/${eventId}`);
            return r.status === 200 && r.json.deliveries.some((d) => d.subscriptionId === sub.subscriptionId && d.status === 'dead');
        }, { timeout: 10000, what: `delivery of ${eventId} to be dead`, procs: [s.wharf.proc] });
    }
    await h.delay(1000);
    assert.equal(s.sink.to('/down').length, 6, 'no attempt after the dead letter');

    s.sink.script('/down', [{ status: 200 }]);
    const replay = await api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { json: { since, onlyFailed: true } });
    assert.equal(replay.status, 202, h.show(replay));
    assert.deepEqual(replay.json, { replayed: 2 });
    await s.sink.waitFor('/down', 8, { procs: [s.wharf.proc] });
    const again = s.sink.to('/down').slice(6);
    for (const r of again) {
        const p = h.verifyDelivery(r, sub.secret);
        assert.equal(r.headers['webhook-id'], ids.get(p.data.eventId), 'replay must reuse the original webhook-id');
    }
    assert.equal(new Set(again.map((r) => r.headers['webhook-id'])).size, 2);
    for (const eventId of ids.keys()) {
        await h.waitUntil(async () => {
            const r = await api('GET', `/v1/events/${eventId}`);
            return r.status === 200 && r.json.deliveries.some((d) => d.subscriptionId === sub.subscriptionId && d.status === 'delivered');
        }, { timeout: 10000, what: `delivery of ${eventId} to be delivered after the replay`, procs: [s.wharf.proc] });
    }
    // nothing failed any more; an until before since's events replays nothing
    const again2 = await api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`, { json: { since, onlyFailed: true } });
    assert.deepEqual(again2.json, { replayed: 0 }, h.show(again2));
    const early = await api('POST', `/v1/subscriptions/${sub.subscriptionId}/replay`,
        { json: { since: '2020-01-01T00:00:00Z', until: '2020-01-02T00:00:00Z' } });
    assert.deepEqual(early.json, { replayed: 0 }, h.show(early));
});

ctx.test('a malformed stream entry is kept aside raw, acknowledged, and listed by GET /v1/poison (admin only)', async () => {
    const p = 3;
    const garbage = 'not an envelope'; // msgpack reads a fixint, not the envelope array it must be
    const id = (await s.redis.cli('XADD', `wh:q:{p${p}}`, '*', 'b', garbage)).trim();
    await h.waitUntil(async () => {
        const pending = (await s.redis.cli('XPENDING', `wh:q:{p${p}}`, 'wharf')).trim().split('\n')[0];
        const kept = Number((await s.redis.cli('XLEN', `wh:poison:{p${p}}`)).trim());
        const len = Number((await s.redis.cli('XLEN', `wh:q:{p${p}}`)).trim());
        return pending === '0' && kept >= 1 && len === 0;
    }, { timeout: 10000, what: 'the malformed entry acknowledged and kept aside', procs: [s.wharf.proc] });
    const res = await s.wharf.api('GET', '/v1/poison?limit=5', { token: s.wharf.adminToken });
    assert.equal(res.status, 200, h.show(res));
    const mine = res.json.entries.find((e) => e.entryId === id);
    assert.ok(mine, `entry ${id} listed: ${h.show(res)}`);
    assert.equal(mine.partition, p);
    assert.ok(!Number.isNaN(Date.parse(mine.keptAt)));
    assert.equal(Buffer.from(mine.fields.b, 'base64').toString(), garbage);
    const tenant = await s.wharf.api('GET', '/v1/poison', { token: s.env.apiToken });
    assert.equal(tenant.status, 403, h.show(tenant));
    const bad = await s.wharf.api('GET', '/v1/poison?limit=0', { token: s.wharf.adminToken });
    assert.equal(bad.status, 400, h.show(bad));
});
