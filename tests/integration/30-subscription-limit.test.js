'use strict';
// Scenario 30: an environment holds at most 1000 subscriptions (common/limits.h WH_MAX_SUBSCRIPTIONS_PER_ENV),
// even when creations race. The environment is filled to just under the bound through the API, then a burst
// of concurrent POST /v1/subscriptions (spread over wharf's gateway threads, hence over several Redis
// connections) must store exactly the free places: the others get 403 subscription_limit_reached and the
// subscriptions hash never holds more than the bound.
const assert = require('node:assert/strict');
const h = require('./harness');

const ctx = h.context('subscription-limit');

const LIMIT = 1000; // WH_MAX_SUBSCRIPTIONS_PER_ENV; not configurable
const FREE = 10;    // places left before the burst
const BURST = 300;  // concurrent creations racing for them

function body(i) {
    return { url: `http://127.0.0.1:9/hook/${i}`, eventTypes: ['crm.contact.*'], description: `sub ${i}` };
}

/* Runs `fn(i)` for i in [0, n) with at most `width` calls in flight. */
async function pool(n, width, fn) {
    let next = 0;
    const worker = async () => {
        while (next < n) await fn(next++);
    };
    await Promise.all(Array.from({ length: width }, worker));
}

ctx.test('concurrent creations never take an environment past its bound; the excess gets 403 subscription_limit_reached', { timeout: 120000 }, async () => {
    const redis = await ctx.redis();
    const wharf = await ctx.wharf({ redis, env: { WHARF_THREADS: '2' } });
    const env = await wharf.createEnvironment({ name: 'limit', kind: 'development' });
    const key = `wh:subs:{e:${env.environmentId}}`;
    const hlen = async () => Number((await redis.cli('HLEN', key)).trim());

    // fill to LIMIT - FREE through the API, 32 at a time
    await pool(LIMIT - FREE, 32, (i) => wharf.createSubscription(env.apiToken, body(i)));
    assert.equal(await hlen(), LIMIT - FREE, 'seeding did not store every subscription');

    // the race: BURST creations at once, for FREE places
    const answers = await Promise.all(Array.from({ length: BURST },
        (_, i) => wharf.api('POST', '/v1/subscriptions', { token: env.apiToken, json: body(LIMIT + i), timeout: 30000 })));
    const created = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status === 403 && h.errorCode(r) === 'subscription_limit_reached');
    const other = answers.filter((r) => !created.includes(r) && !refused.includes(r));
    const stored = await hlen();
    assert.deepEqual(other.map(h.show), [], 'every answer is 201 or 403 subscription_limit_reached');
    assert.ok(stored <= LIMIT, `the environment holds ${stored} subscriptions, more than its bound of ${LIMIT} ` +
        `(${created.length} of ${BURST} concurrent creations answered 201 for ${FREE} free places)`);
    assert.equal(stored, LIMIT, 'the free places were not all taken');
    assert.equal(created.length, FREE, `${created.length} creations answered 201 for ${FREE} free places`);
    assert.equal(refused.length, BURST - FREE);
    assert.match(refused[0].json.error.message, /at most 1000 subscriptions/, h.show(refused[0]));

    // every 201 is a stored subscription, and the listing shows exactly the bound
    const list = await wharf.api('GET', '/v1/subscriptions', { token: env.apiToken });
    assert.equal(list.status, 200, h.show(list));
    assert.equal(list.json.subscriptions.length, LIMIT);
    const ids = new Set(list.json.subscriptions.map((s) => s.subscriptionId));
    for (const r of created) assert.ok(ids.has(r.json.subscriptionId), `201 ${r.json.subscriptionId} is not listed`);

    // full stays full; a deletion frees one place again
    const more = await wharf.api('POST', '/v1/subscriptions', { token: env.apiToken, json: body(9999) });
    assert.equal(more.status, 403, h.show(more));
    assert.equal(h.errorCode(more), 'subscription_limit_reached', h.show(more));
    const del = await wharf.api('DELETE', `/v1/subscriptions/${created[0].json.subscriptionId}`, { token: env.apiToken });
    assert.equal(del.status, 204, h.show(del));
    await wharf.createSubscription(env.apiToken, body(10000));
    assert.equal(await hlen(), LIMIT);

    // another environment has its own bound
    const other2 = await wharf.createEnvironment({ name: 'limit-2', kind: 'development' });
    await wharf.createSubscription(other2.apiToken, body(0));
});
