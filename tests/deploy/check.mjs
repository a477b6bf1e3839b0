// Offline checks of deploy/kubernetes (no API server): every overlay renders with `kubectl kustomize`, every
// rendered object validates against its schema (Kubernetes, KEDA, Prometheus Operator: npm kubernetes-models),
// and the rules a schema cannot see hold across objects (probes, restricted security context, grace periods,
// one autoscaler per workload, selectors that select, ports that exist, references that resolve).
//
// usage: node check.mjs [overlay…]       default: every deploy/kubernetes/overlays/*
//        node check.mjs --self-test      proves each rule can fail, on broken copies of the dev overlay
// Exit status 1 with one line per problem.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const overlaysDir = path.join(root, 'deploy/kubernetes/overlays');

// apiVersion -> the module folder of its models
function modulePath(apiVersion, kind) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    if (group === 'keda.sh') return `@kubernetes-models/keda/${apiVersion}/${kind}`;
    if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
    return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

export function render(dir) {
    return YAML.parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }))
        .map((d) => d.toJSON())
        .filter((o) => o !== null);
}

async function validateSchema(obj) {
    let mod;
    try {
        mod = await import(modulePath(obj.apiVersion, obj.kind));
    } catch {
        return [`no schema for ${obj.apiVersion} ${obj.kind} (an unknown kind is not allowed here)`];
    }
    try {
        new mod[obj.kind](obj).validate();
        return [];
    } catch (e) {
        return [`schema: ${e.message.split('\n').slice(0, 4).join(' ')}`];
    }
}

const labelsMatch = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => (labels || {})[k] === v);
const seconds = (v) => {
    const m = /^(\d+)(ms|s|m|h)?$/.exec(String(v || ''));
    if (!m) return NaN;
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, undefined: 1 }[m[2]];
};

// The cross-object rules; `external` names Secrets an overlay expects to exist outside it.
export function crossChecks(objs, { external = [] } = {}) {
    const problems = [];
    const name = (o) => `${o.kind}/${o.metadata?.name}`;
    const workloads = objs.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));
    const byKind = (k) => objs.filter((o) => o.kind === k);
    const configMaps = byKind('ConfigMap');
    const secrets = new Set([...byKind('Secret').map((s) => s.metadata.name), ...external]);

    for (const w of workloads) {
        const pod = w.spec.template.spec;
        const where = name(w);
        if (!labelsMatch(w.spec.selector?.matchLabels, w.spec.template.metadata?.labels)) problems.push(`${where}: its selector does not select its own pods`);
        if (pod.securityContext?.runAsNonRoot !== true) problems.push(`${where}: pod securityContext.runAsNonRoot is not true`);
        if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: pod seccompProfile is not RuntimeDefault`);
        if (pod.automountServiceAccountToken !== false) problems.push(`${where}: a service account token is mounted`);
        const grace = pod.terminationGracePeriodSeconds ?? 30;
        for (const c of pod.containers) {
            const cw = `${where} container ${c.name}`;
            if (!c.readinessProbe) problems.push(`${cw}: no readinessProbe`);
            if (!c.livenessProbe) problems.push(`${cw}: no livenessProbe`);
            const sc = c.securityContext || {};
            if (sc.allowPrivilegeEscalation !== false) problems.push(`${cw}: allowPrivilegeEscalation is not false`);
            if (sc.readOnlyRootFilesystem !== true) problems.push(`${cw}: the root filesystem is writable`);
            if (!(sc.capabilities?.drop || []).includes('ALL')) problems.push(`${cw}: capabilities not dropped (ALL)`);
            if (c.resources?.limits?.cpu) problems.push(`${cw}: a CPU limit (CFS throttling stalls an event loop; docs/deploy.md)`);
            if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) problems.push(`${cw}: no memory request and limit`);
            const ports = new Set((c.ports || []).map((p) => p.name));
            for (const probe of [c.readinessProbe, c.livenessProbe].filter(Boolean)) {
                const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
                if (typeof port === 'string' && !ports.has(port)) problems.push(`${cw}: a probe names port ${port}, which the container lacks`);
            }
            if (c.image === 'wharf' || /wharf/.test(c.image)) {
                // h2o spills large request bodies to /tmp: with a read-only root it must be a volume
                if (!(c.volumeMounts || []).some((m) => m.mountPath === '/tmp')) problems.push(`${cw}: read-only root but no /tmp volume`);
                // the grace countdown starts before preStop: preStop sleep + WHARF_SHUTDOWN_GRACE must fit in it
                const pre = c.lifecycle?.preStop?.exec?.command;
                const sleep = pre && pre[0] === 'sleep' ? Number(pre[1]) : 0;
                const cm = (c.envFrom || []).map((e) => e.configMapRef?.name).filter(Boolean)
                    .map((n) => configMaps.find((m) => m.metadata.name === n)?.data || {});
                const shutdown = seconds(Object.assign({}, ...cm).WHARF_SHUTDOWN_GRACE || '20s');
                if (!(grace > sleep + shutdown)) problems.push(`${cw}: terminationGracePeriodSeconds ${grace} <= preStop ${sleep} s + WHARF_SHUTDOWN_GRACE ${shutdown} s`);
            }
            for (const e of c.envFrom || []) {
                if (e.configMapRef && !configMaps.some((m) => m.metadata.name === e.configMapRef.name)) problems.push(`${cw}: ConfigMap ${e.configMapRef.name} is not rendered`);
                if (e.secretRef && !secrets.has(e.secretRef.name)) problems.push(`${cw}: Secret ${e.secretRef.name} is neither rendered nor expected to exist`);
            }
        }
    }
    // one autoscaler per workload, and no fixed replica count on an autoscaled one
    const scaled = new Map();
    for (const h of byKind('HorizontalPodAutoscaler')) scaled.set(h.spec.scaleTargetRef.name, [...(scaled.get(h.spec.scaleTargetRef.name) || []), name(h)]);
    for (const s of byKind('ScaledObject')) {
        scaled.set(s.spec.scaleTargetRef.name, [...(scaled.get(s.spec.scaleTargetRef.name) || []), name(s)]);
        if (s.metadata.name.length > 54) problems.push(`${name(s)}: a ScaledObject name over 54 characters`);
    }
    for (const [target, by] of scaled) {
        const w = workloads.find((x) => x.metadata.name === target);
        if (!w) problems.push(`${by.join(', ')}: scales ${target}, which is not rendered`);
        else if (w.spec.replicas !== undefined) problems.push(`${name(w)}: a fixed replica count fights its autoscaler (${by.join(', ')})`);
        if (by.length > 1) problems.push(`${target}: scaled by ${by.join(' and ')}: one autoscaler per workload`);
    }
    const podsOf = (selector) => workloads.filter((w) => labelsMatch(selector, w.spec.template.metadata?.labels));
    for (const p of byKind('PodDisruptionBudget')) {
        if (podsOf(p.spec.selector?.matchLabels).length === 0) problems.push(`${name(p)}: selects no pods`);
        if (p.spec.minAvailable !== undefined) problems.push(`${name(p)}: minAvailable can block a drain; use maxUnavailable`);
    }
    for (const s of byKind('Service')) {
        const pods = podsOf(s.spec.selector);
        if (pods.length === 0) problems.push(`${name(s)}: selects no pods`);
        for (const port of s.spec.ports || []) {
            if (typeof port.targetPort === 'string' && !pods.some((w) => w.spec.template.spec.containers.some((c) => (c.ports || []).some((cp) => cp.name === port.targetPort)))) problems.push(`${name(s)}: targetPort ${port.targetPort} exists on none of its pods`);
        }
    }
    for (const m of byKind('ServiceMonitor')) {
        const svcs = byKind('Service').filter((s) => labelsMatch(m.spec.selector?.matchLabels, s.metadata.labels));
        if (svcs.length === 0) problems.push(`${name(m)}: selects no Service`);
        for (const ep of m.spec.endpoints || []) if (!svcs.some((s) => s.spec.ports.some((p) => p.name === ep.port))) problems.push(`${name(m)}: port ${ep.port} is on none of its Services`);
    }
    for (const m of byKind('PodMonitor')) {
        const pods = podsOf(m.spec.selector?.matchLabels);
        if (pods.length === 0) problems.push(`${name(m)}: selects no pods`);
        for (const ep of m.spec.podMetricsEndpoints || []) if (!pods.some((w) => w.spec.template.spec.containers.some((c) => (c.ports || []).some((p) => p.name === ep.port)))) problems.push(`${name(m)}: port ${ep.port} is on none of its pods`);
    }
    for (const n of byKind('NetworkPolicy')) if (podsOf(n.spec.podSelector?.matchLabels).length === 0) problems.push(`${name(n)}: selects no pods`);
    return problems;
}

// What each overlay expects to exist outside it.
const EXTERNAL = { production: ['wharf-secrets'] };

export async function checkOverlay(dir, opts = {}) {
    const objs = render(dir);
    const problems = [];
    for (const o of objs) for (const p of await validateSchema(o)) problems.push(`${o.kind}/${o.metadata?.name}: ${p}`);
    problems.push(...crossChecks(objs, opts));
    return { objs, problems };
}

async function selfTest() {
    // each mutation of the rendered dev overlay must be caught, by the schema or by a rule
    const base = render(path.join(overlaysDir, 'dev'));
    const dep = (objs, n) => objs.find((o) => o.kind === 'Deployment' && o.metadata.name === n);
    const mutations = {
        'a replica count of the wrong type': (o) => { dep(o, 'wharf-worker').spec.replicas = 'three'; },
        'a missing readiness probe': (o) => { delete dep(o, 'wharf-gateway').spec.template.spec.containers[0].readinessProbe; },
        'a writable root filesystem': (o) => { dep(o, 'wharf-worker').spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; },
        'a grace period shorter than preStop + shutdown': (o) => { dep(o, 'wharf-gateway').spec.template.spec.terminationGracePeriodSeconds = 25; },
        'a Service selecting nothing': (o) => { o.find((x) => x.kind === 'Service' && x.metadata.name === 'wharf-gateway').spec.selector['app.kubernetes.io/component'] = 'nobody'; },
        'a second autoscaler': (o) => { const h = structuredClone(o.find((x) => x.kind === 'HorizontalPodAutoscaler')); h.metadata.name = 'again'; o.push(h); },
        'a fixed replica count under an HPA': (o) => { dep(o, 'wharf-gateway').spec.replicas = 2; },
        'an unknown kind': (o) => { o.push({ apiVersion: 'example.com/v1', kind: 'Gizmo', metadata: { name: 'g' } }); },
        'a CPU limit': (o) => { dep(o, 'wharf-worker').spec.template.spec.containers[0].resources.limits.cpu = '1'; },
        'a missing Secret': (o) => { const i = o.findIndex((x) => x.kind === 'Secret'); o.splice(i, 1); },
    };
    let failed = 0;
    for (const [what, mutate] of Object.entries(mutations)) {
        const objs = structuredClone(base);
        mutate(objs);
        const problems = [];
        for (const ob of objs) problems.push(...await validateSchema(ob));
        problems.push(...crossChecks(objs));
        if (problems.length === 0) {
            console.log(`self-test: NOT caught: ${what}`);
            failed = 1;
        } else {
            console.log(`self-test: caught ${what}: ${problems[0]}`);
        }
    }
    return failed;
}

async function main() {
    const args = process.argv.slice(2);
    if (args[0] === '--self-test') process.exit(await selfTest());
    const overlays = args.length > 0 ? args : fs.readdirSync(overlaysDir).sort();
    let bad = 0;
    for (const o of overlays) {
        const dir = path.isAbsolute(o) ? o : path.join(overlaysDir, o);
        const { objs, problems } = await checkOverlay(dir, { external: EXTERNAL[path.basename(dir)] || [] });
        for (const p of problems) console.log(`${path.basename(dir)}: ${p}`);
        console.log(`${path.basename(dir)}: ${objs.length} objects rendered, ${problems.length} problems`);
        if (problems.length > 0 || objs.length === 0) bad = 1;
    }
    process.exit(bad);
}

main().catch((e) => { console.error(e); process.exit(2); });
