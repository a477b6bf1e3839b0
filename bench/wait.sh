#!/usr/bin/env bash
# The README's durability row for WHARF_REDIS_WAIT_REPLICAS: a primary and one replica on this box (AOF on,
# appendfsync everysec, no RDB), wharf's gateway role, closed loop wrk -t1 -c64 -d8s over distinct signed HubSpot
# requests (bench/unique), ROUNDS rounds interleaved across the binaries so the box's drift hits each alike.
#
#   bench/wait.sh LABEL=BINARY[:REPLICAS] ...     e.g. bench/wait.sh none=build/wharf:0 wait=build/wharf:1
#
# Prints one line per run: req/s, p99, non-2xx answers, WAIT calls (INFO commandstats) and ingest script calls.
# Needs redis-server, redis-cli, wrk, node, curl. Everything it starts is stopped by pid on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BODY=${BODY:-$ROOT/../shared/bench/body.json}
ROUNDS=${ROUNDS:-2}
DUR=${DUR:-8}
COUNT=${COUNT:-300000}
SECRET=bench-secret-$$
ADMIN=bench-admin-$$
PUBLIC=https://hooks.example.com
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ $# -ge 1 ] || { echo "usage: $0 LABEL=BINARY[:REPLICAS] ..." >&2; exit 2; }
[ -f "$BODY" ] || { echo "$0: no request body template at $BODY (set BODY)" >&2; exit 2; }

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
cli() { redis-cli -p "$1" "${@:2}"; }
wait_for() { for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "$0: timed out: $*" >&2; exit 1; }

P_PORT=$(free_port)
R_PORT=$(free_port)
for role in primary replica; do
  port=$P_PORT
  extra=()
  if [ $role = replica ]; then port=$R_PORT; extra=(--replicaof 127.0.0.1 "$P_PORT"); fi
  mkdir -p "$WORK/$role"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec \
    --repl-diskless-sync-delay 0 --dir "$WORK/$role" --logfile "$WORK/$role.log" "${extra[@]}" &
  PIDS+=($!)
  wait_for cli "$port" ping
done
wait_for sh -c "redis-cli -p $P_PORT info replication | grep -q 'state=online'"

setup_done=0
run() { # label binary replicas round
  local label=$1 bin=$2 replicas=$3 round=$4 port pid out tok
  port=$(free_port)
  WHARF_LISTEN=127.0.0.1:$port WHARF_REDIS_URL=redis://127.0.0.1:$P_PORT/0 WHARF_ADMIN_TOKEN=$ADMIN WHARF_INSECURE_DEV=1 \
    WHARF_PUBLIC_URL=$PUBLIC WHARF_REDIS_WAIT_REPLICAS=$replicas WHARF_LOG=warn \
    "$bin" serve --role gateway 2>"$WORK/wharf-$label-$round.log" &
  pid=$!
  PIDS+=("$pid")
  wait_for curl -fsS "http://127.0.0.1:$port/readyz"
  if [ $setup_done = 0 ]; then
    out=$(curl -fsS -X POST "http://127.0.0.1:$port/v1/environments" -H "Authorization: Bearer $ADMIN" \
      -H 'Content-Type: application/json' --data-binary '{"name":"bench","kind":"production"}')
    tok=$(node -e 'console.log(JSON.parse(process.argv[1]).apiToken)' "$out")
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:$port/v1/connections" -H "Authorization: Bearer $tok" \
      -H 'Content-Type: application/json' \
      --data-binary '{"integrationId":"hubspot","externalAccountId":"62515","credentials":{"clientSecret":"'"$SECRET"'"}}'
    setup_done=1
  fi
  # an empty queue and no dedupe sets: every request of every run is new
  for k in $(cli "$P_PORT" --scan --pattern 'wh:q:*') $(cli "$P_PORT" --scan --pattern 'wh:dd:*'); do cli "$P_PORT" unlink "$k" >/dev/null; done
  node "$ROOT/bench/unique/gen.js" "$COUNT" "$SECRET" "$PUBLIC" "$BODY" "$WORK/reqs"
  # warm-up on the requests' tail (duplicates), then the measured run from the start of the file
  REQUESTS_FILE=$WORK/reqs wrk -t1 -c64 -d2s "http://127.0.0.1:$port/webhooks/hubspot" -s "$ROOT/bench/unique/rotate.lua" >/dev/null 2>&1 || true
  for k in $(cli "$P_PORT" --scan --pattern 'wh:dd:*'); do cli "$P_PORT" unlink "$k" >/dev/null; done
  cli "$P_PORT" config resetstat >/dev/null
  REQUESTS_FILE=$WORK/reqs wrk -t1 -c64 -d"${DUR}s" --latency -s "$ROOT/bench/unique/rotate.lua" \
    "http://127.0.0.1:$port/webhooks/hubspot" >"$WORK/wrk.out"
  local rps p99 non2xx waits evals
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out")
  waits=$(cli "$P_PORT" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_wait:calls=\([0-9]*\).*/\1/p')
  evals=$(cli "$P_PORT" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p')
  printf '%-10s round %s  %9s req/s  p99 %8s  non-2xx %6s  WAIT %7s  EVALSHA %7s\n' "$label" "$round" "$rps" "$p99" \
    "${non2xx:-0}" "${waits:-0}" "${evals:-0}"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for round in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    label=${spec%%=*}
    rest=${spec#*=}
    bin=${rest%%:*}
    replicas=1
    [ "$rest" != "$bin" ] && replicas=${rest##*:}
    run "$label" "$bin" "$replicas" "$round"
  done
done
