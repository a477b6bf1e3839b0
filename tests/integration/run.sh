#!/bin/sh
# Integration suite: real redis-server, real wharf, real HTTP sinks, driven by node:test.
#   tests/integration/run.sh <path-to-wharf-binary>     (ctest calls it so)
# Needs redis-server + redis-cli (Debian: redis-server, redis-tools), node >= 20 and npm.
# Environment: WHARF_VALGRIND=1 runs wharf under valgrind; WHARF_IT_KEEP=1 keeps the temporary dirs.
# Exit code: node's test runner's (0 = all passed).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bin=${1:-${WHARF_BIN:-}}
if [ -z "$bin" ]; then
    echo "usage: $0 <path-to-wharf-binary>   (or set WHARF_BIN)" >&2
    exit 2
fi
if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
    echo "run.sh: wharf binary '$bin' does not exist or is not executable (build it: cmake --build build --target wharf)" >&2
    exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

redis_server=${REDIS_SERVER:-$(command -v redis-server || true)}
redis_cli=${REDIS_CLI:-$(command -v redis-cli || true)}
if [ -z "$redis_server" ] || [ ! -x "$redis_server" ]; then
    echo "run.sh: redis-server not found in PATH (Debian: apt-get install redis-server; or set REDIS_SERVER)" >&2
    exit 2
fi
if [ -z "$redis_cli" ] || [ ! -x "$redis_cli" ]; then
    echo "run.sh: redis-cli not found in PATH (Debian: apt-get install redis-tools; or set REDIS_CLI)" >&2
    exit 2
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: node and npm are required (node >= 20)" >&2
    exit 2
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "run.sh: node >= 20 is required (found $(node --version))" >&2
    exit 2
fi

# Dependencies (the oracles: @hubspot/api-client, standardwebhooks, svix), exactly as locked.
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    echo "run.sh: installing test dependencies (npm ci)" >&2
    (cd "$here" && npm ci --no-audit --no-fund) >&2
    touch "$here/node_modules/.package-lock.json"
fi

cd "$root"
WHARF_BIN=$bin REDIS_SERVER=$redis_server REDIS_CLI=$redis_cli
export WHARF_BIN REDIS_SERVER REDIS_CLI
exec node --test --test-concurrency=1 tests/integration/
