#!/bin/sh
# Offline checks of deploy/kubernetes: every overlay renders (kubectl kustomize), every object validates against
# the Kubernetes, KEDA and Prometheus Operator schemas, cross-object rules hold (check.mjs); then the self-test
# proves each rule can fail. ctest calls it (label "deploy"). Needs kubectl with kustomize >= v5 (components:),
# node >= 20 and npm (without kubectl it exits 77: ctest shows it skipped); no API server, no network beyond the npm registry for the first `npm ci`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if ! command -v kubectl >/dev/null 2>&1; then
    # Debian 12's kubernetes-client (1.20) cannot render kustomize components and nothing else reachable here
    # packages kubectl: a machine without it cannot run this check. ctest reports it SKIPPED (exit 77), loudly.
    echo "tests/deploy/run.sh: SKIPPED: kubectl not found (kubectl >= 1.27 renders kustomize components)" >&2
    exit 77
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "tests/deploy/run.sh: node and npm are required (node >= 20)" >&2
    exit 2
fi
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    echo "tests/deploy/run.sh: installing the schema packages (npm ci)" >&2
    (cd "$here" && npm ci --no-audit --no-fund) >&2
    touch "$here/node_modules/.package-lock.json"
fi
cd "$here"
node check.mjs
node check.mjs --self-test
