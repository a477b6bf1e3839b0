'use strict';
/*
 * Integration harness: real redis-server, real wharf, real HTTP sinks, on free loopback ports in a
 * temporary directory. Readiness is detected by probing (PING, GET /readyz) with a short backoff and a
 * deadline, never by sleeping. Everything a test file starts is killed (whole process group) when the
 * file ends — pass, fail, exception, SIGINT or SIGTERM — and its temporary directory is removed
 * (kept when WHARF_IT_KEEP=1).
 *
 * Oracles are independent implementations: HubSpot signatures come from HubSpot's SDK
 * (@hubspot/api-client `Signature.getSignature`), deliveries are verified with the official Standard
 * Webhooks library (standardwebhooks) and with Svix's (svix), never with wharf's own code.
 *
 * Environment:
 *   WHARF_BIN        path to the wharf binary (run.sh sets it)            required
 *   REDIS_SERVER     redis-server binary (default: from PATH)
 *   REDIS_CLI        redis-cli binary (default: from PATH)
 *   WHARF_VALGRIND=1 run wharf under valgrind (longer readiness deadlines)
 *   WHARF_IT_REDIS=cluster  every ctx.redis() is a 3-master Redis Cluster on loopback (RedisCluster), the
 *                    same interface; files that need one server (replicas) skip themselves then
 *   WHARF_IT_KEEP=1  keep temporary directories (logs, AOF) after the run
 */
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const crypto = require('node:crypto');
const { test, before, after } = require('node:test');
const { Signature } = require('@hubspot/api-client');
const { Webhook } = require('standardwebhooks');
const svix = require('svix');

const VALGRIND = process.env.WHARF_VALGRIND === '1';
const CLUSTER = process.env.WHARF_IT_REDIS === 'cluster';
const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI || 'redis-cli';
const PUBLIC_URL = 'https://hooks.example.test';
const PARTITIONS = 8; // WHARF_PARTITIONS' default, which the suite runs with

/* wh_partition_of (queue/keys.c): FNV-1a 32, murmur3's finalizer, modulo the partition count. */
function partitionOf(id, partitions = PARTITIONS) {
    let x = 2166136261;
    for (const b of Buffer.from(id)) {
        x ^= b;
        x = Math.imul(x, 16777619) >>> 0;
    }
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    return (x >>> 0) % partitions;
}

/* ------------------------------------------------------------------------------------------------ */
/* small utilities                                                                                   */

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function wharfBin() {
    const bin = process.env.WHARF_BIN;
    if (!bin) throw new Error('WHARF_BIN is not set (run the suite through tests/integration/run.sh <wharf binary>)');
    if (!fs.existsSync(bin)) throw new Error(`WHARF_BIN=${bin} does not exist`);
    return bin;
}

/* A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
/* A free port whose cluster bus port (+10000) is free too. */
async function freeClusterPort() {
    for (;;) {
        const p = await freePort();
        if (p + 10000 > 65535) continue;
        const bus = await new Promise((resolve) => {
            const srv = net.createServer();
            srv.unref();
            srv.on('error', () => resolve(false));
            srv.listen(p + 10000, '127.0.0.1', () => srv.close(() => resolve(true)));
        });
        if (bus) return p;
    }
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/*
 * Polls `probe` (sync or async; truthy = done, its value is returned) with a backoff from 10 ms to
 * 200 ms until `timeout` ms have passed. A process in `procs` that exits meanwhile fails the wait at
 * once, with the tail of its log. `what` names the condition in the timeout message.
 */
async function waitUntil(probe, { timeout = 10000, what = 'condition', procs = [] } = {}) {
    const deadline = Date.now() + timeout;
    let pause = 10;
    let lastError;
    for (;;) {
        for (const p of procs) {
            if (p.exited) {
                throw new Error(`${p.name} exited (${p.exitDescription()}) while waiting for ${what}\n` +
                    `--- ${p.name} log (tail) ---\n${p.tail(30)}`);
            }
        }
        try {
            const v = await probe();
            if (v) return v;
        } catch (e) {
            lastError = e;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
                (lastError ? ` (last probe error: ${lastError.message})` : ''));
        }
        await delay(Math.min(pause, Math.max(1, deadline - Date.now())));
        pause = Math.min(200, Math.ceil(pause * 1.5));
    }
}

function tailFile(file, lines = 40) {
    try {
        const text = fs.readFileSync(file, 'utf8');
        return text.split('\n').slice(-lines - 1).join('\n');
    } catch (e) {
        return `(no log: ${e.message})`;
    }
}

/*
 * HTTP/1.1 request with full control over headers and raw body bytes; a fresh connection per request.
 * Resolves {status, headers, text, json (undefined unless the body parses), ms}.
 */
function request(url, { method = 'GET', headers = {}, body, timeout = 10000 } = {}) {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const hdrs = { ...headers };
        if (body !== undefined && !Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-length')) {
            hdrs['Content-Length'] = Buffer.byteLength(body);
        }
        const started = Date.now();
        let answered = false;
        const req = http.request({
            host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: hdrs, agent: false,
        }, (res) => {
            answered = true;
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json;
                try { json = JSON.parse(text); } catch { json = undefined; }
                resolve({ status: res.statusCode, headers: res.headers, text, json, ms: Date.now() - started });
            });
        });
        req.setTimeout(timeout, () => req.destroy(new Error(`no answer to ${method} ${u.pathname} within ${timeout} ms`)));
        // A server may answer (413) and close before it has read the whole body; the answer is what counts.
        req.on('error', (e) => { if (!answered) reject(e); });
        if (body !== undefined) req.end(body); else req.end();
    });
}

/* One line describing a response, for assertion messages. */
function show(res) {
    const t = res.text.length > 300 ? res.text.slice(0, 300) + '…' : res.text;
    return `HTTP ${res.status} ${t}`;
}

/* ------------------------------------------------------------------------------------------------ */
/* process bookkeeping: every process we start is a group leader; teardown kills the group            */

const live = new Set();   // Proc
const tmpDirs = new Set();

function killAllSync() {
    for (const p of live) {
        try { process.kill(-p.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    live.clear();
    if (process.env.WHARF_IT_KEEP !== '1') {
        for (const d of tmpDirs) {
            try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
        }
    }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        killAllSync();
        process.exit(128 + os.constants.signals[sig]);
    });
}

class Proc {
    constructor(name, cmd, args, { env, logFile, cwd }) {
        this.name = name;
        this.logFile = logFile;
        const fd = fs.openSync(logFile, 'a');
        this.child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', fd, fd] });
        fs.closeSync(fd);
        this.pid = this.child.pid;
        this.exited = false;
        this.code = null;
        this.signal = null;
        this.exitPromise = new Promise((resolve) => {
            this.child.on('exit', (code, signal) => {
                this.exited = true;
                this.code = code;
                this.signal = signal;
                // the group may hold grandchildren (valgrind); make sure none survives the leader
                try { process.kill(-this.pid, 'SIGKILL'); } catch { /* gone */ }
                live.delete(this);
                resolve({ code, signal });
            });
            this.child.on('error', (e) => {
                this.exited = true;
                this.code = -1;
                this.spawnError = e;
                live.delete(this);
                resolve({ code: -1, signal: null, error: e });
            });
        });
        if (this.pid) live.add(this);
    }

    exitDescription() {
        if (this.spawnError) return `spawn failed: ${this.spawnError.message}`;
        return this.signal ? `signal ${this.signal}` : `code ${this.code}`;
    }

    tail(lines = 40) { return tailFile(this.logFile, lines); }

    log() { try { return fs.readFileSync(this.logFile, 'utf8'); } catch { return ''; } }

    /* Signals the whole process group. */
    kill(signal = 'SIGKILL') {
        if (this.exited) return;
        try { process.kill(-this.pid, signal); } catch { /* gone */ }
    }

    /* Waits for exit up to `timeout` ms; resolves {code, signal} or null on timeout. */
    async waitExit(timeout) {
        let timer;
        const t = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeout); });
        const r = await Promise.race([this.exitPromise, t]);
        clearTimeout(timer);
        return r;
    }

    /* SIGTERM, then SIGKILL after `grace` ms. Resolves {code, signal, forced}. */
    async stop(grace = 5000) {
        if (this.exited) return { code: this.code, signal: this.signal, forced: false };
        this.kill('SIGTERM');
        const r = await this.waitExit(grace);
        if (r) return { ...r, forced: false };
        this.kill('SIGKILL');
        const r2 = await this.exitPromise;
        return { ...r2, forced: true };
    }
}

/* Minimal environment for children: nothing WHARF_* leaks in from the caller's shell. */
function baseEnv() {
    const env = {};
    for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TSAN_OPTIONS']) {
        if (process.env[k] !== undefined) env[k] = process.env[k];
    }
    return env;
}

function runCli(args, { timeout = 5000 } = {}) {
    return new Promise((resolve, reject) => {
        execFile(REDIS_CLI, args, { timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
            if (err) { err.message += ` (redis-cli ${args.join(' ')}: ${stderr || stdout})`; reject(err); return; }
            resolve(stdout);
        });
    });
}

/* ------------------------------------------------------------------------------------------------ */
/* redis-server                                                                                       */

class RedisServer {
    /* `replicaOf`: a RedisServer this one replicates (started with --replicaof; start() waits for the link);
       `args`: more redis-server options, e.g. ['--appendfsync', 'always'] */
    constructor(ctx, port, { replicaOf, args = [] } = {}) {
        this.ctx = ctx;
        this.port = port;
        this.replicaOf = replicaOf;
        this.args = args;
        this.dir = fs.mkdtempSync(path.join(ctx.dir, replicaOf ? 'replica-' : 'redis-'));
        this.url = `redis://127.0.0.1:${port}/0`;
        this.starts = 0;
        this.frozen = false;
    }

    async start() {
        this.starts += 1;
        const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
            '--dir', this.dir, '--daemonize', 'no', '--logfile', '',
            // a replica links at once (the default waits 5 s for more replicas to share one transfer)
            '--repl-diskless-sync-delay', '0', ...this.args];
        if (this.replicaOf) args.push('--replicaof', '127.0.0.1', String(this.replicaOf.port));
        this.proc = new Proc(`redis-${this.replicaOf ? 'replica' : 'server'}:${this.port}`, REDIS_SERVER, args,
            { env: baseEnv(), logFile: path.join(this.dir, `redis.${this.starts}.log`) });
        this.ctx.procs.push(this.proc);
        await waitUntil(async () => (await this.cli('PING')).trim() === 'PONG',
            { timeout: 10000, what: `redis-server on port ${this.port} to answer PING`, procs: [this.proc] });
        if (this.replicaOf) {
            // linked on both sides: the replica's link is up and the primary lists it online
            await waitUntil(async () => (await this.info('replication')).master_link_status === 'up' &&
                (await this.replicaOf.onlineReplicas()) >= 1,
            { timeout: 15000, what: `replica ${this.port} linked to ${this.replicaOf.port}`, procs: [this.proc] });
        }
        return this;
    }

    /* Graceful stop (SIGTERM: Redis flushes the AOF). A frozen server is thawed first. */
    async stop() {
        this.thaw();
        if (this.proc) await this.proc.stop(10000);
    }

    /* SIGSTOP / SIGCONT: a frozen replica stays connected in its primary's eyes but acknowledges nothing. */
    freeze() {
        if (this.proc && !this.proc.exited && !this.frozen) { this.proc.kill('SIGSTOP'); this.frozen = true; }
    }

    thaw() {
        if (this.proc && !this.proc.exited && this.frozen) { this.proc.kill('SIGCONT'); }
        this.frozen = false;
    }

    /* INFO <section> as an object of its `key:value` lines. */
    async info(section) {
        const out = {};
        for (const line of (await this.cli('INFO', section)).split(/\r?\n/)) {
            const i = line.indexOf(':');
            if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
        }
        return out;
    }

    /* Replicas the primary lists with state=online. */
    async onlineReplicas() {
        const info = await this.info('replication');
        return Object.keys(info).filter((k) => /^slave\d+$/.test(k) && info[k].includes('state=online')).length;
    }

    /* INFO commandstats: { wait: {calls, usec, …}, evalsha: {…}, … } (lower-case command names). */
    async commandStats() {
        const out = {};
        for (const [k, v] of Object.entries(await this.info('commandstats'))) {
            if (!k.startsWith('cmdstat_')) continue;
            const fields = {};
            for (const kv of v.split(',')) { const [a, b] = kv.split('='); fields[a] = Number(b); }
            out[k.slice(8)] = fields;
        }
        return out;
    }

    cli(...args) {
        return runCli(['-h', '127.0.0.1', '-p', String(this.port), '--raw', ...args]);
    }

    /* Every key matching `pattern` (SCAN; on a cluster, every master's). */
    async scanKeys(pattern) {
        return (await runCli(['-h', '127.0.0.1', '-p', String(this.port), '--raw', '--scan', '--pattern', pattern]))
            .split('\n').filter(Boolean);
    }

    /*
     * Queue counters over the 8 partition streams wh:q:{p0}..{p7}: xlen = sum of XLEN, added = sum of
     * XINFO STREAM entries-added (every XADD ever, unaffected by XDEL/XTRIM/consumption). Settled entries
     * leave the stream from its front once no older one is pending, after their first delivery attempts (a
     * delivery can reach a sink before its entry leaves the stream), so the counters are read once no entry is pending in the consumer group (up to
     * 10 s, 30 s under valgrind): what they show then does not move under the test's feet.
     */
    async queueCounters() {
        return queueCounters(this);
    }

    /* Every byte Redis has written to its AOF (Redis 7 multi-part AOF in appendonlydir/). */
    aofBytes() {
        const d = path.join(this.dir, 'appendonlydir');
        if (!fs.existsSync(d)) return Buffer.alloc(0);
        return Buffer.concat(fs.readdirSync(d).filter((f) => f.endsWith('.aof'))
            .map((f) => fs.readFileSync(path.join(d, f))));
    }
}

/*
 * Queue counters over the partition streams wh:q:{p0}..: xlen = sum of XLEN, added = sum of XINFO STREAM
 * entries-added (every XADD ever, unaffected by XDEL/XTRIM/consumption). Settled entries leave the stream from its
 * front once no older one is pending, after their first delivery attempts (a delivery can reach a sink before its
 * entry leaves the stream), so the counters are read once no entry is pending in the consumer group (up to 10 s, 30 s under valgrind): what
 * they show then does not move under the test's feet. One EVAL per partition, keyed, so that a cluster runs each on
 * the stream's master.
 */
async function queueCounters(redis) {
    const script = `local k=KEYS[1] local x,a,p=0,0,0 ` +
        `if redis.call('EXISTS',k)==1 and redis.call('TYPE',k)['ok']=='stream' then x=redis.call('XLEN',k) ` +
        `local info=redis.call('XINFO','STREAM',k) for j=1,#info,2 do if info[j]=='entries-added' then a=info[j+1] end end ` +
        `for _,g in ipairs(redis.call('XINFO','GROUPS',k)) do for j=1,#g,2 do if g[j]=='pending' then p=p+g[j+1] end end end ` +
        `end return {x,a,p}`;
    const deadline = Date.now() + (VALGRIND ? 30000 : 10000);
    for (;;) {
        let xlen = 0, added = 0, pending = 0;
        for (let i = 0; i < PARTITIONS; i++) {
            const out = (await redis.cli('EVAL', script, '1', `wh:q:{p${i}}`)).trim().split('\n');
            xlen += Number(out[0]); added += Number(out[1]); pending += Number(out[2]);
        }
        if (pending === 0 || Date.now() >= deadline) return { xlen, added };
        await delay(20);
    }
}

/*
 * A Redis Cluster of three masters on loopback (no replicas), with the RedisServer interface the tests use: cli()
 * follows redirections (redis-cli -c, from the first master), info() and commandStats() add up every master,
 * stop()/start() restart every node (their nodes.conf keeps the cluster), aofBytes() is every node's AOF.
 */
class RedisCluster {
    /* `replicas`: replicas per master (ports holds masters × (1 + replicas) ports; redis-cli assigns the roles) */
    constructor(ctx, ports, { args = [], replicas = 0 } = {}) {
        this.ctx = ctx;
        this.replicas = replicas;
        this.nodes = ports.map((p) => new RedisServer(ctx, p, {
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', ...args],
        }));
        this.port = ports[0];
        this.url = this.nodes[0].url;
        this.isCluster = true;
        this.created = false;
    }

    async start() {
        await Promise.all(this.nodes.map((n) => n.start()));
        if (!this.created) {
            await runCli(['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
                '--cluster-replicas', String(this.replicas), '--cluster-yes'], { timeout: 30000 });
            this.created = true;
        }
        await waitUntil(async () => {
            for (const n of this.nodes) {
                const info = await n.cli('CLUSTER', 'INFO');
                if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
            }
            return true;
        }, { timeout: 20000, what: 'every cluster node to report cluster_state:ok', procs: this.nodes.map((n) => n.proc) });
        return this;
    }

    async stop() { for (const n of this.nodes) await n.stop(); }
    freeze() { for (const n of this.nodes) n.freeze(); }
    thaw() { for (const n of this.nodes) n.thaw(); }

    async info(section) {
        const out = {};
        for (const n of this.nodes) {
            for (const [k, v] of Object.entries(await n.info(section))) {
                out[k] = /^-?\d+$/.test(v) && /^-?\d+$/.test(out[k] ?? '0') ? String(Number(out[k] ?? 0) + Number(v)) : (out[k] ?? v);
            }
        }
        return out;
    }

    async commandStats() {
        const out = {};
        for (const n of this.nodes) {
            for (const [cmd, f] of Object.entries(await n.commandStats())) {
                out[cmd] = out[cmd] || {};
                for (const [k, v] of Object.entries(f)) out[cmd][k] = (out[cmd][k] || 0) + v;
            }
        }
        return out;
    }

    async onlineReplicas() { return 0; }

    cli(...args) {
        return runCli(['-c', '-h', '127.0.0.1', '-p', String(this.port), '--raw', ...args]);
    }

    async scanKeys(pattern) {
        return (await Promise.all(this.nodes.map((n) => n.scanKeys(pattern)))).flat();
    }

    /* The node (a RedisServer) that is master of `slot` now, as the first reachable node sees it. */
    async masterOf(slot) {
        for (const n of this.nodes) {
            if (n.proc.exited) continue;
            const out = await runCli(['-h', '127.0.0.1', '-p', String(n.port), 'CLUSTER', 'SLOTS'], { timeout: 5000 }).catch(() => null);
            if (out === null) continue;
            const lines = out.split('\n');
            // redis-cli prints CLUSTER SLOTS flat: first, last, host, port, id, [replica host, port, id]…
            for (let i = 0; i + 4 < lines.length; i++) {
                const first = Number(lines[i]), last = Number(lines[i + 1]);
                if (/^\d+$/.test(lines[i]) && /^\d+$/.test(lines[i + 1]) && lines[i + 2] === '127.0.0.1' && first <= slot && slot <= last) {
                    const port = Number(lines[i + 3]);
                    return this.nodes.find((x) => x.port === port);
                }
            }
        }
        throw new Error(`no master of slot ${slot}`);
    }

    async slotOf(key) {
        return Number((await this.nodes[0].cli('CLUSTER', 'KEYSLOT', key)).trim());
    }

    async nodeId(node) {
        return (await node.cli('CLUSTER', 'MYID')).trim();
    }

    /* The masters, as RedisServers. */
    async masters() {
        const out = [];
        for (const n of this.nodes) if (!n.proc.exited && /role:master/.test(await n.cli('INFO', 'replication'))) out.push(n);
        return out;
    }

    /*
     * Moves one slot, with its keys, from `from` to `to` (RedisServers, both masters), the way redis-cli --cluster
     * reshard does: IMPORTING/MIGRATING, MIGRATE the keys in batches, then the new owner announced to every master.
     */
    async migrateSlot(slot, from, to) {
        const fromId = await this.nodeId(from), toId = await this.nodeId(to);
        await to.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
        await from.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
        for (;;) {
            const keys = (await from.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter(Boolean);
            if (keys.length === 0) break;
            await from.cli('MIGRATE', '127.0.0.1', String(to.port), '', '0', '10000', 'KEYS', ...keys);
        }
        for (const m of await this.masters()) await m.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
    }

    /* What a test does to "the Redis process" it does to every node (kill -9 of Redis is kill -9 of the cluster). */
    get proc() {
        const procs = this.nodes.map((n) => n.proc);
        return {
            kill: (signal) => procs.forEach((p) => p.kill(signal)),
            waitExit: (timeout) => Promise.all(procs.map((p) => p.waitExit(timeout))),
            get exited() { return procs.every((p) => p.exited); },
        };
    }

    async queueCounters() {
        return queueCounters(this);
    }

    aofBytes() {
        return Buffer.concat(this.nodes.map((n) => n.aofBytes()));
    }
}

/*
 * The ledger: a provider-like sender of `total` distinct HubSpot events, `per` per request (objectIds base, base+1…),
 * four requests in flight; a request without a 2xx is sent again, as HubSpot does, until it gets one. `acked` holds
 * the objectIds a 2xx acknowledged; run() resolves once every event was acknowledged.
 */
function ledger(gateway, { total, per = 3, base, secret }) {
    const acked = new Set();
    const stats = { sent: 0, refused: 0 };
    const next = { k: 0 };
    const t0 = Date.now() - 60000;
    const sender = async () => {
        for (;;) {
            const k = next.k;
            if (k >= total) return;
            next.k += per;
            const events = [];
            for (let i = 0; i < per; i++) {
                events.push(hubspot.propertyChange('contact', { objectId: base + k + i, propertyName: 'email', propertyValue: `l${k + i}@ex.test`, occurredAt: t0 + k + i }));
            }
            for (;;) {
                stats.sent += 1;
                let res;
                try {
                    res = await gateway.postHubSpot({ events, secret, timeout: 5000 });
                } catch {
                    res = { status: 0 };
                }
                if (res.status === 202) {
                    for (let i = 0; i < per; i++) acked.add(String(base + k + i));
                    break;
                }
                stats.refused += 1;
                await delay(50);
            }
        }
    };
    return { acked, stats, run: () => Promise.all([sender(), sender(), sender(), sender()]) };
}

/* Waits until every objectId the ledger `l` acknowledged reached `sink` at `path`, reports the counts, and fails
   on any lost. Duplicates are allowed (at least once) and reported. */
async function assertLedgerDelivered(t, sink, path, l, procs) {
    const delivered = () => new Set(sink.to(path).map((r) => r.json?.data?.objectId));
    await waitUntil(() => [...l.acked].every((id) => delivered().has(id)),
        { timeout: 90000, what: `every acknowledged event at the sink (have ${delivered().size} of ${l.acked.size})`, procs });
    // this ledger's events only (another ledger may share the path)
    const mine = sink.to(path).map((r) => r.json?.data?.objectId).filter((id) => l.acked.has(id));
    const got = new Set(mine);
    const lost = [...l.acked].filter((id) => !got.has(id));
    const deliveries = mine.length;
    t.diagnostic(`ledger: acknowledged ${l.acked.size}, delivered ${got.size} distinct in ${deliveries} deliveries ` +
        `(duplicates ${deliveries - got.size}), lost ${lost.length}; requests ${l.stats.sent}, non-2xx or failed ${l.stats.refused}`);
    require('node:assert/strict').deepEqual(lost, []);
}

/* ------------------------------------------------------------------------------------------------ */
/* wharf                                                                                              */

class Wharf {
    constructor(ctx, { port, env, role, name }) {
        this.ctx = ctx;
        this.port = port;
        this.env = env;
        this.role = role;
        this.name = name;
        this.base = `http://127.0.0.1:${port}`;
        this.adminToken = env.WHARF_ADMIN_TOKEN;
        this.publicUrl = env.WHARF_PUBLIC_URL;
    }

    start() {
        const bin = wharfBin();
        const args = ['serve', ...(this.role ? ['--role', this.role] : [])];
        const logFile = path.join(this.ctx.dir, `${this.name}.log`);
        if (VALGRIND) {
            // tests/valgrind.supp: h2o's per-thread recycle bins, which libh2o gives no way to release
            const supp = path.join(__dirname, '..', 'valgrind.supp');
            this.proc = new Proc(this.name, 'valgrind', ['--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite',
                `--suppressions=${supp}`, `--log-file=${logFile}.valgrind`, bin, ...args], { env: this.env, logFile });
        } else {
            this.proc = new Proc(this.name, bin, args, { env: this.env, logFile });
        }
        this.proc.isWharf = true;
        this.ctx.procs.push(this.proc);
        return this;
    }

    async waitReady(timeout = VALGRIND ? 60000 : 10000) {
        await waitUntil(async () => (await request(`${this.base}/readyz`, { timeout: 2000 })).status === 200,
            { timeout, what: `${this.name}: GET /readyz -> 200`, procs: [this.proc] });
        return this;
    }

    url(p) { return this.base + p; }

    /* Management API call. `json` is serialized; `token` becomes a Bearer header (null: none). */
    api(method, p, { token, json, body, headers = {}, timeout } = {}) {
        const h = { ...headers };
        if (token) h.Authorization = `Bearer ${token}`;
        let b = body;
        if (json !== undefined) {
            b = JSON.stringify(json);
            if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
        }
        return request(this.base + p, { method, headers: h, body: b, timeout });
    }

    async createEnvironment(body = {}) {
        const res = await this.api('POST', '/v1/environments', {
            token: this.adminToken, json: { name: `env-${crypto.randomBytes(3).toString('hex')}`, kind: 'development', ...body },
        });
        if (res.status !== 201 || !res.json || !res.json.environmentId || !res.json.apiToken) {
            throw new Error(`POST /v1/environments: expected 201 {environmentId, apiToken}, got ${show(res)}`);
        }
        return res.json;
    }

    async createConnection(token, body) {
        const res = await this.api('POST', '/v1/connections', { token, json: body });
        if (res.status !== 201 || !res.json || !res.json.connectionId) {
            throw new Error(`POST /v1/connections: expected 201 {connectionId…}, got ${show(res)}`);
        }
        return res.json;
    }

    /* A HubSpot connection; `secret` is the app's client secret. */
    createHubSpotConnection(token, { portalId = 62515, secret, signatureVersions, objects = { contacts: true, deals: true } } = {}) {
        const credentials = { clientSecret: secret };
        if (signatureVersions) credentials.signatureVersions = signatureVersions;
        return this.createConnection(token, {
            integrationId: 'hubspot', externalAccountId: String(portalId), credentials, sync: { objects },
        });
    }

    async createSubscription(token, body) {
        const res = await this.api('POST', '/v1/subscriptions', { token, json: body });
        if (res.status !== 201 || !res.json || !res.json.subscriptionId || !res.json.secret) {
            throw new Error(`POST /v1/subscriptions: expected 201 {subscriptionId, secret…}, got ${show(res)}`);
        }
        return res.json;
    }

    /*
     * POST a HubSpot batch. `events` (array, serialized here) or `body` (raw string). Signed v3 with the
     * SDK over PUBLIC_URL + path unless `sign: false`; `timestamp` (ms) defaults to now; `signSecret`
     * defaults to `secret`. `headers` are added last (override).
     */
    postHubSpot({ path: p = '/webhooks/hubspot', events, body, secret, signSecret, timestamp, version = 'v3', sign = true,
        contentType = 'application/json', headers = {}, timeout } = {}) {
        const raw = body !== undefined ? body : JSON.stringify(events);
        const h = {};
        if (contentType !== null) h['Content-Type'] = contentType;
        if (sign) Object.assign(h, hubspotSignatureHeaders({ secret: signSecret || secret, url: this.publicUrl + p, body: raw, timestamp, version }));
        Object.assign(h, headers);
        return request(this.base + p, { method: 'POST', headers: h, body: raw, timeout });
    }
}

/* Most requests a sink path had open at once, given each was answered after `holdMs`. */
function peakConcurrency(recs, holdMs) {
    const edges = recs.flatMap((r) => [[r.at, 1], [r.at + holdMs, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let open = 0, peak = 0;
    for (const [, d] of edges) { open += d; peak = Math.max(peak, open); }
    return peak;
}

/* ------------------------------------------------------------------------------------------------ */
/* HTTP sink                                                                                          */

/*
 * A real HTTP server recording every request ({path, method, headers, body (Buffer), text, at, answer})
 * and answering from a per-path script: an array of answers {status = 200, delayMs = 0, hang = false,
 * headers, body}, consumed in order, the last one repeating. Default answer: 200 after `defaultDelayMs`.
 */
class Sink {
    constructor() {
        this.requests = [];
        this.scripts = new Map();
        this.counts = new Map();
        this.defaultDelayMs = 0;
        this.sockets = new Set();
        this.hanging = new Set();
    }

    async start() {
        this.server = http.createServer((req, res) => this.onRequest(req, res));
        this.server.keepAliveTimeout = 30000;
        this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
        await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
        this.port = this.server.address().port;
        return this;
    }

    url(p) { return `http://127.0.0.1:${this.port}${p}`; }

    script(p, answers) { this.scripts.set(p, answers); this.counts.set(p, 0); }

    onRequest(req, res) {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const p = req.url.split('?')[0];
            const n = this.counts.get(p) || 0;
            this.counts.set(p, n + 1);
            const script = this.scripts.get(p);
            const answer = script && script.length ? script[Math.min(n, script.length - 1)] : { status: 200, delayMs: this.defaultDelayMs };
            const body = Buffer.concat(chunks);
            const rec = {
                path: p, method: req.method, headers: req.headers, body, text: body.toString('utf8'), at: Date.now(), answer,
                get json() { try { return JSON.parse(this.text); } catch { return undefined; } },
            };
            this.requests.push(rec);
            if (answer.hang) { this.hanging.add(res); return; }
            const send = () => {
                if (res.destroyed) return;
                res.writeHead(answer.status || 200, { 'Content-Type': 'text/plain', ...(answer.headers || {}) });
                res.end(answer.body !== undefined ? answer.body : 'ok');
            };
            if (answer.delayMs) setTimeout(send, answer.delayMs); else send();
        });
    }

    to(p) { return this.requests.filter((r) => r.path === p); }

    waitFor(p, count, { timeout = 15000, procs = [] } = {}) {
        return waitUntil(() => this.to(p).length >= count,
            { timeout, what: `${count} request(s) to sink ${p} (have ${this.to(p).length})`, procs });
    }

    summary() {
        const by = new Map();
        for (const r of this.requests) by.set(r.path, (by.get(r.path) || 0) + 1);
        return `sink :${this.port} received ${this.requests.length} request(s)` +
            (by.size ? ': ' + [...by].map(([k, v]) => `${k}×${v}`).join(', ') : '');
    }

    async stop() {
        for (const res of this.hanging) { try { res.destroy(); } catch { /* gone */ } }
        for (const s of this.sockets) s.destroy();
        await new Promise((resolve) => this.server.close(() => resolve()));
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* HubSpot: events and signatures (the SDK is the oracle)                                            */

let eventSeq = 100000 + crypto.randomInt(1, 1000000) * 10;

const hubspot = {
    PORTAL: 62515,

    event(subscriptionType, o = {}) {
        const e = {
            eventId: o.eventId !== undefined ? o.eventId : ++eventSeq,
            subscriptionId: 7,
            portalId: o.portalId !== undefined ? o.portalId : hubspot.PORTAL,
            appId: 1,
            occurredAt: o.occurredAt !== undefined ? o.occurredAt : Date.now(),
            subscriptionType,
            attemptNumber: o.attemptNumber || 0,
            objectId: o.objectId !== undefined ? o.objectId : 123,
            changeSource: 'CRM',
        };
        if (subscriptionType.endsWith('.propertyChange')) {
            e.propertyName = o.propertyName !== undefined ? o.propertyName : 'email';
            e.propertyValue = o.propertyValue !== undefined ? o.propertyValue : 'a@b.c';
        }
        return e;
    },
    propertyChange(object, o) { return hubspot.event(`${object}.propertyChange`, o); },
    creation(object, o) { return hubspot.event(`${object}.creation`, o); },
    deletion(object, o) { return hubspot.event(`${object}.deletion`, o); },
};

/* Headers HubSpot would send, computed by HubSpot's SDK. */
function hubspotSignatureHeaders({ secret, url, body, timestamp, version = 'v3' }) {
    if (version === 'v3') {
        const ts = timestamp !== undefined ? timestamp : Date.now();
        return {
            'X-HubSpot-Signature-v3': Signature.getSignature('POST', 'v3', { clientSecret: secret, requestBody: body, url, timestamp: ts }),
            'X-HubSpot-Request-Timestamp': String(ts),
        };
    }
    return {
        'X-HubSpot-Signature': Signature.getSignature('POST', version, { clientSecret: secret, requestBody: body, url }),
        'X-HubSpot-Signature-Version': version,
    };
}

/* ------------------------------------------------------------------------------------------------ */
/* deliveries (Standard Webhooks and Svix are the oracles)                                            */

/*
 * Verifies a recorded sink request as a Standard Webhooks delivery with both official libraries and
 * returns its parsed body. Throws with the reason and the headers on failure.
 */
function verifyDelivery(rec, secret) {
    const headers = {
        'webhook-id': rec.headers['webhook-id'],
        'webhook-timestamp': rec.headers['webhook-timestamp'],
        'webhook-signature': rec.headers['webhook-signature'],
    };
    let payload;
    try {
        payload = new Webhook(secret).verify(rec.text, headers);
    } catch (e) {
        throw new Error(`standardwebhooks rejected the delivery to ${rec.path}: ${e.message}; headers ${JSON.stringify(headers)}; body ${rec.text.slice(0, 300)}`);
    }
    try {
        new svix.Webhook(secret).verify(rec.text, rec.headers);
    } catch (e) {
        throw new Error(`svix rejected the delivery to ${rec.path}: ${e.message}; headers ${JSON.stringify(headers)}`);
    }
    return payload;
}

/* ------------------------------------------------------------------------------------------------ */
/* per-file context                                                                                   */

const NAME_RE = /[^a-z0-9]+/gi;

/*
 * One context per test file: a temporary directory, and every redis/wharf/sink started through it,
 * torn down by an `after` hook (and by the process-exit/signal handlers as a last resort).
 * ctx.test() wraps node:test's test(): on failure it prints the tails of all logs.
 */
function context(name) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wharf-it-${name.replace(NAME_RE, '-')}-`));
    tmpDirs.add(dir);
    const ctx = { dir, procs: [], sinks: [], wharfs: [], redises: [] };

    /* A Redis Cluster whatever WHARF_IT_REDIS says: `masters` masters with `replicas` replicas each. */
    ctx.cluster = async ({ args, masters = 3, replicas = 0 } = {}) => {
        const ports = [];
        for (let i = 0; i < masters * (1 + replicas); i++) ports.push(await freeClusterPort());
        const c = new RedisCluster(ctx, ports, { args, replicas });
        ctx.redises.push(c);
        return c.start();
    };

    ctx.redis = async ({ args } = {}) => {
        if (CLUSTER) {
            const c = new RedisCluster(ctx, [await freeClusterPort(), await freeClusterPort(), await freeClusterPort()], { args });
            ctx.redises.push(c);
            return c.start();
        }
        const r = new RedisServer(ctx, await freePort(), { args });
        ctx.redises.push(r);
        return r.start();
    };

    /* A replica of `primary` (a RedisServer), started and linked. Torn down before its primary. */
    ctx.replica = async (primary) => {
        const r = new RedisServer(ctx, await freePort(), { replicaOf: primary });
        ctx.redises.unshift(r);
        return r.start();
    };

    /*
     * Starts wharf. `env` overrides the test defaults (a value of undefined removes the variable);
     * `role`: undefined (all roles) | 'gateway' | 'worker'; `wait`: probe /readyz (default: unless worker).
     */
    ctx.wharf = async ({ redis, env = {}, role, wait = role !== 'worker', name: n } = {}) => {
        const port = await freePort();
        const e = {
            ...baseEnv(),
            WHARF_LISTEN: `127.0.0.1:${port}`,
            WHARF_REDIS_URL: redis ? redis.url : 'redis://127.0.0.1:1/0',
            WHARF_ADMIN_TOKEN: `admin-${crypto.randomBytes(12).toString('hex')}`,
            WHARF_INSECURE_DEV: '1',
            WHARF_PUBLIC_URL: PUBLIC_URL,
            WHARF_ALLOW_PRIVATE_DESTINATIONS: '1',
            WHARF_RETRY_SCHEDULE: '300ms,300ms,300ms',
            WHARF_DELIVERY_TIMEOUT: '2s',
            WHARF_RECLAIM_IDLE: '1s',
            WHARF_THREADS: '2',
            WHARF_LOG: 'info',
            WHARF_SHUTDOWN_GRACE: '3s',
            WHARF_THROTTLE_FLOOR: '1s', // the production 60 s would stall every timeout test
        };
        for (const [k, v] of Object.entries(env)) {
            if (v === undefined) delete e[k]; else e[k] = v;
        }
        const w = new Wharf(ctx, { port, env: e, role, name: n || `wharf-${role || 'all'}-${ctx.wharfs.length + 1}` });
        ctx.wharfs.push(w);
        w.start();
        if (wait) await w.waitReady();
        return w;
    };

    ctx.sink = async () => {
        const s = await new Sink().start();
        ctx.sinks.push(s);
        return s;
    };

    ctx.dumpLogs = () => {
        let out = `\n===== logs of ${name} (${dir}) =====\n`;
        for (const p of ctx.procs) {
            // only what the process wrote since the previous dump, so each failing test shows its own lines
            const all = p.log();
            const fresh = all.slice(p.dumped || 0);
            p.dumped = all.length;
            const n = p.isWharf ? 40 : 8;
            const lines = fresh.split('\n').slice(-n - 1).join('\n');
            out += `--- ${p.name} [${p.exited ? p.exitDescription() : 'running'}] ${p.logFile} (new output, last ${n} lines) ---\n` +
                (fresh ? lines : '(nothing new)') + '\n';
            if (VALGRIND && p.isWharf) out += `--- valgrind (tail) ---\n${tailFile(p.logFile + '.valgrind', 40)}\n`;
        }
        for (const s of ctx.sinks) out += s.summary() + '\n';
        process.stderr.write(out);
    };

    ctx.test = (title, opts, fn) => {
        if (typeof opts === 'function') { fn = opts; opts = {}; }
        return test(title, { timeout: 60000, ...opts }, async (t) => {
            try {
                await fn(t);
            } catch (e) {
                ctx.dumpLogs();
                throw e;
            }
        });
    };

    /* A before-hook (setup) that prints the logs when it fails. */
    ctx.before = (fn) => before(async () => {
        try {
            await fn();
        } catch (e) {
            ctx.dumpLogs();
            throw e;
        }
    }, { timeout: VALGRIND ? 180000 : 60000 });

    after(async () => {
        const problems = [];
        for (const w of ctx.wharfs) {
            if (!w.proc) continue;
            const r = await w.proc.stop(VALGRIND ? 30000 : 5000);
            if (VALGRIND && r.code === 99) problems.push(`${w.name}: valgrind reported errors (exit 99); see ${w.proc.logFile}.valgrind`);
            const log = w.proc.log() + (VALGRIND ? tailFile(w.proc.logFile + '.valgrind', 100000) : '');
            const m = log.match(/ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer[^\n]*|runtime error:[^\n]*/);
            if (m) problems.push(`${w.name}: sanitizer report in its log: ${m[0]}`);
        }
        for (const r of ctx.redises) await r.stop();
        for (const s of ctx.sinks) await s.stop();
        for (const p of ctx.procs) p.kill('SIGKILL');
        if (problems.length) {
            ctx.dumpLogs();
            killAllSync();
            throw new Error(problems.join('\n'));
        }
        if (process.env.WHARF_IT_KEEP !== '1') {
            fs.rmSync(dir, { recursive: true, force: true });
            tmpDirs.delete(dir);
        }
    });

    return ctx;
}

/* The error code of a wharf error body, or undefined. */
function errorCode(res) {
    return res.json && res.json.error ? res.json.error.code : undefined;
}

module.exports = {
    PUBLIC_URL, PARTITIONS, VALGRIND, CLUSTER, partitionOf,
    context, delay, freePort, waitUntil, request, show, errorCode, ledger, assertLedgerDelivered, peakConcurrency,
    hubspot, hubspotSignatureHeaders, verifyDelivery, wharfBin, runCli,
    Signature, Webhook, svix,
};
