'use strict';
// Scenario 1: configuration is validated at startup; --version/--help; /healthz and /readyz; SIGTERM exits 0.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const h = require('./harness');

const ctx = h.context('config-health');

/* Runs wharf to completion (or kills it after `timeout` ms). */
function runWharf(args, env, timeout = 5000) {
    return new Promise((resolve) => {
        const child = spawn(h.wharfBin(), args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c) => { stdout += c; });
        child.stderr.on('data', (c) => { stderr += c; });
        let timedOut = false;
        const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeout);
        child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, timedOut }); });
    });
}

function validEnv(port) {
    return {
        PATH: process.env.PATH,
        WHARF_LISTEN: `127.0.0.1:${port}`,
        WHARF_REDIS_URL: 'redis://127.0.0.1:1/0',
        WHARF_ADMIN_TOKEN: 'admin-token-0123456789abcdef',
        WHARF_INSECURE_DEV: '1',
        WHARF_PUBLIC_URL: h.PUBLIC_URL,
    };
}

const badConfigs = [
    ['WHARF_LISTEN', 'nonsense'],
    ['WHARF_REDIS_URL', 'http://127.0.0.1:6379'],
    ['WHARF_RETRY_SCHEDULE', '5 parsecs'],
    ['WHARF_DELIVERY_TIMEOUT', 'soon'],
    ['WHARF_MAX_BODY', 'lots'],
    ['WHARF_MASTER_KEY', 'c2hvcnQ='],
    ['WHARF_THREADS', 'many'],
    ['WHARF_ADMIN_TOKEN', 'short'],
    ['WHARF_HEALTH_LISTEN', 'nonsense'],
];

for (const [name, value] of badConfigs) {
    ctx.test(`bad config ${name}=${value} stops startup with one line naming ${name}`, async () => {
        const port = await h.freePort();
        const r = await runWharf(['serve'], { ...validEnv(port), [name]: value });
        assert.equal(r.timedOut, false, `wharf did not exit within 5 s with ${name}=${value}; stderr: ${r.stderr.slice(-500)}`);
        assert.notEqual(r.code, 0, `wharf exited 0 with ${name}=${value}`);
        const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
        assert.equal(lines.length, 1, `expected exactly one line on stderr, got ${lines.length}: ${JSON.stringify(r.stderr)}`);
        assert.match(lines[0], new RegExp(name), `stderr line does not name ${name}: ${lines[0]}`);
    });
}

ctx.test('unknown --role is refused', async () => {
    const port = await h.freePort();
    const r = await runWharf(['serve', '--role', 'bogus'], validEnv(port));
    assert.equal(r.timedOut, false, 'wharf serve --role bogus did not exit within 5 s');
    assert.notEqual(r.code, 0, 'wharf serve --role bogus exited 0');
    assert.match(r.stderr, /role/i, `stderr does not mention the role: ${JSON.stringify(r.stderr)}`);
});

ctx.test('wharf --version prints the version and exits 0', async () => {
    const r = await runWharf(['--version'], { PATH: process.env.PATH });
    assert.equal(r.code, 0, `exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stdout, /wharf/i, `--version output does not name wharf: ${JSON.stringify(r.stdout)}`);
    assert.match(r.stdout, /\d+\.\d+\.\d+/, `--version output has no x.y.z version: ${JSON.stringify(r.stdout)}`);
});

ctx.test('wharf --help describes serve and --role and exits 0', async () => {
    const r = await runWharf(['--help'], { PATH: process.env.PATH });
    assert.equal(r.code, 0, `exit ${r.code}, stderr ${r.stderr}`);
    const out = r.stdout + r.stderr;
    assert.match(out, /serve/, `--help does not mention serve: ${JSON.stringify(out)}`);
    assert.match(out, /--role/, `--help does not mention --role: ${JSON.stringify(out)}`);
});

let wharf;
ctx.test('GET /healthz and /readyz answer 200 with Redis up', async () => {
    const redis = await ctx.redis();
    wharf = await ctx.wharf({ redis });
    const hz = await h.request(wharf.url('/healthz'));
    assert.equal(hz.status, 200, `/healthz: ${h.show(hz)}`);
    const rz = await h.request(wharf.url('/readyz'));
    assert.equal(rz.status, 200, `/readyz: ${h.show(rz)}`);
});

ctx.test('GET /metrics: Prometheus text; ingest and delivery counters move with the traffic', async () => {
    const redis = await ctx.redis();
    const w = await ctx.wharf({ redis });
    const sink = await ctx.sink();
    const secret = 'hs-metrics-secret';
    const env = await w.createEnvironment({ name: 'metrics', kind: 'development' });
    await w.createHubSpotConnection(env.apiToken, { portalId: h.hubspot.PORTAL, secret });
    await w.createSubscription(env.apiToken, { url: sink.url('/m'), eventTypes: ['*'] });
    const scrape = async () => {
        const res = await h.request(w.url('/metrics'));
        assert.equal(res.status, 200, h.show(res));
        assert.match(res.headers['content-type'], /^text\/plain/, h.show(res));
        const values = {};
        for (const line of res.text.split('\n')) {
            if (line === '' || line.startsWith('#')) continue;
            const m = /^([a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
            assert.ok(m, `not a Prometheus sample line: ${line}`);
            values[m[1]] = Number(m[2]);
        }
        return values;
    };
    const before = await scrape();
    assert.equal(before['wharf_redis_ready'], 1);
    assert.ok(Object.keys(before).some((k) => k.startsWith('wharf_build_info{')), JSON.stringify(before));
    const ok = await w.postHubSpot({ events: [h.hubspot.propertyChange('contact', { objectId: 99 })], secret });
    assert.equal(ok.status, 202, h.show(ok));
    const bad = await w.postHubSpot({ events: [h.hubspot.propertyChange('contact', { objectId: 98 })], secret: 'wrong' });
    assert.equal(bad.status, 401, h.show(bad));
    await sink.waitFor('/m', 1, { procs: [w.proc] });
    const after = await h.waitUntil(async () => {
        const v = await scrape();
        return v['wharf_delivery_attempts_total{result="delivered"}'] >= 1 ? v : null;
    }, { what: 'the delivery counted', procs: [w.proc] });
    const delta = (k) => after[k] - (before[k] || 0);
    assert.equal(delta('wharf_ingest_requests_total{result="accepted"}'), 1, JSON.stringify(after));
    assert.equal(delta('wharf_ingest_requests_total{result="refused"}'), 1, JSON.stringify(after));
    assert.equal(delta('wharf_ingest_events_total{result="queued"}'), 1, JSON.stringify(after));
    assert.equal(delta('wharf_delivery_attempts_total{result="delivered"}'), 1, JSON.stringify(after));
});

ctx.test('a worker answers /healthz, /readyz and /metrics on WHARF_HEALTH_LISTEN, nothing else; without it, no port', async () => {
    const redis = await ctx.redis();
    const hp = await h.freePort();
    const base = `http://127.0.0.1:${hp}`;
    const w = await ctx.wharf({ redis, role: 'worker', env: { WHARF_HEALTH_LISTEN: `127.0.0.1:${hp}` } });
    await h.waitUntil(async () => (await h.request(`${base}/readyz`, { timeout: 2000 }).catch(() => ({ status: 0 }))).status === 200,
        { timeout: h.VALGRIND ? 60000 : 10000, what: 'the worker\'s /readyz -> 200', procs: [w.proc] });
    assert.equal((await h.request(`${base}/healthz`)).status, 200);
    const m = await h.request(`${base}/metrics`);
    assert.equal(m.status, 200, h.show(m));
    assert.match(m.text, /^wharf_build_info\{version="[^"]+",role="worker"\} 1$/m, h.show(m));
    for (const [method, path] of [['POST', '/webhooks/hubspot'], ['GET', '/v1/subscriptions']]) {
        const r = await h.request(`${base}${path}`, { method, body: method === 'POST' ? '{}' : undefined });
        assert.equal(r.status, 404, `${method} ${path} on a worker: ${h.show(r)}`);
        assert.equal(JSON.parse(r.text).error.code, 'not_found', h.show(r));
    }
    // the same role without WHARF_HEALTH_LISTEN opens no port (WHARF_LISTEN is the gateway's)
    const quiet = await ctx.wharf({ redis, role: 'worker' });
    await h.waitUntil(() => /"event":"started"/.test(quiet.proc.log()), { what: 'the second worker started', procs: [quiet.proc] });
    const refused = await h.request(quiet.url('/healthz'), { timeout: 2000 }).then(() => false, () => true);
    assert.ok(refused, 'a worker without WHARF_HEALTH_LISTEN answered on WHARF_LISTEN');
    // the worker's own state: Redis gone, not ready (worker_not_ready), still alive (its loop ticks)
    await redis.stop();
    await h.waitUntil(async () => (await h.request(`${base}/readyz`, { timeout: 2000 })).status === 503,
        { timeout: h.VALGRIND ? 60000 : 10000, what: 'the worker\'s /readyz -> 503 once Redis is gone', procs: [w.proc] });
    const nr = await h.request(`${base}/readyz`);
    assert.equal(nr.status, 503, h.show(nr));
    assert.equal(nr.json.error.code, 'worker_not_ready', h.show(nr));
    assert.equal((await h.request(`${base}/healthz`)).status, 200);
});

ctx.test('GET /readyz answers 503 when Redis is unreachable, /healthz still 200', async () => {
    // wharf pointed at a port where nothing listens: alive, not ready.
    const dead = await h.freePort();
    const w = await ctx.wharf({ env: { WHARF_REDIS_URL: `redis://127.0.0.1:${dead}/0` }, wait: false });
    await h.waitUntil(async () => (await h.request(w.url('/healthz'), { timeout: 2000 })).status === 200,
        { timeout: h.VALGRIND ? 60000 : 10000, what: '/healthz -> 200 with Redis down', procs: [w.proc] });
    const rz = await h.request(w.url('/readyz'));
    assert.equal(rz.status, 503, `/readyz with Redis unreachable: ${h.show(rz)}`);
});

ctx.test('SIGTERM: wharf exits 0 within the shutdown grace period', async () => {
    assert.ok(wharf, 'no running wharf (previous test failed)');
    const r = await wharf.proc.stop(h.VALGRIND ? 30000 : 6000);
    assert.equal(r.forced, false, 'wharf did not exit within 6 s of SIGTERM (WHARF_SHUTDOWN_GRACE=3s); it was SIGKILLed');
    assert.equal(r.signal, null, `wharf died of signal ${r.signal}`);
    assert.equal(r.code, 0, `wharf exit code after SIGTERM: ${r.code}`);
});
