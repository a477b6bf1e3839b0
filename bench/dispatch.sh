#!/usr/bin/env bash
# bench/dispatch.sh: wharf's dispatch path (queued change events -> signed Standard Webhooks POSTs)
# measured side by side with the peer baselines of ../shared/bench (see bench/README.md, "Dispatch").
#
# usage: bench/dispatch.sh
# Per round (RUNS rounds, interleaved so the box's drift hits every target alike):
#   baseline    ../shared/bench/run-dispatch.sh dispatch-1p floor-1p with RUNS=1 DUR=$DUR, unchanged,
#               run from a temporary copy of ../shared/bench (the shared folder is read-only and is never
#               copied into this repository): the Node dispatcher (XREADGROUP -> standardwebhooks sign ->
#               undici POST -> XACK, 1 process) and the undici POST-loop floor, against its nginx sink on 18091.
#               If it does not finish within BASELINE_TIMEOUT s (its idle-box wait has no limit, and a
#               busy shared box can hold it forever), that round runs the same node scripts directly
#               ("direct": same prefill of 200k, same WARMUP_S=1 DURATION_S=$DUR, same env) against this
#               script's Redis and sink, and so do the remaining rounds; the table says which modes ran.
#   wharf       N distinct HubSpot events are queued through wharf's own ingest route (build/wharf serve
#               --role gateway, signed requests of 3 events, bench/dispatch/load.js); the gateway is stopped;
#               then `build/wharf serve --role worker` is started and timed until every event was
#               delivered to the sink (all partition streams wh:q:{p0..7} and due sets wh:dq:{p0..7} empty).
#               deliveries/s = N / (drain time, worker start included). Exactly one subscription
#               (eventTypes ["*"]) to the sink, so one event = one delivery; checked afterwards: the sink
#               counted exactly N POSTs, no dead letters, no delivery hash left.
#   curl-floor  bench/dispatch/floor.c: a bare libcurl multi keep-alive POST loop, 100 in flight over at
#               most 64 connections (wharf's per-host limit; undici's Pool size in floor-1p), same 0.4 KiB
#               payload as floor-1p, 1 s warm-up + DUR s.
# Sink for wharf and curl-floor: nginx, 1 worker, `return 200` (../shared/bench/nginx/sink.conf's settings)
# on a free port, plus a stub_status location used only to count requests before and after a run.
# Redis for wharf: its own redis-server on a free port with the baseline's flags (AOF everysec, no RDB).
#
# environment: N=50000 (events per wharf run)  RUNS=3  DUR=10 (baseline/floor seconds)
#              BASELINE=harness|direct|none (harness: run-dispatch.sh, falling back to direct per round)
#              BASELINE_TIMEOUT=180  QUIET_MAX=60 (longest wait for an idle box before a wharf/floor run)
#              CONCURRENCY=32 (load.js requests in flight)
#              SUB_CONCURRENCY=64: the subscription's maxConcurrency (deliveries in flight to the sink), the Node
#              baseline's pool size (issue 9's condition); 16 is a subscription left at its default
#              GO=1: also run ../shared/bench/go-dispatch (the same dispatcher in Go) in the direct baseline mode
#              WHARF_BIN: the binary to measure (copied before use); default: HEAD built from `git archive HEAD`
#              in a temp dir (Release), cached as bench/results/.bin/wharf-<commit>; build/ is never touched
#              LAT=1: also measure wharf's end-to-end delivery latency at a fixed rate (LAT_RATE=2000 events/s
#              for LAT_S=10 s, all roles in one process, a node sink timestamps arrivals)
#              PERF=1: perf record (callgraph, 999 Hz) the worker and Redis during round 1's drain; flat
#              profiles in raw/perf.{worker,redis}.txt (round 1's rate then includes perf's overhead)
#              WHARF_WORKER_THREADS (passed through to wharf, like every WHARF_* setting): worker threads
#              KEEP_WORK=1 keeps the temp dir; WHARF_SHARED_DIR=../shared
# Results: bench/results/dispatch-<date>/{summary.md,runs.tsv,versions.txt,raw/,logs/}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SHARED_BENCH=$(cd "${WHARF_SHARED_DIR:-$ROOT/../shared}/bench" 2>/dev/null && pwd) || {
  echo "bench: ../shared/bench not found next to the repository (or set WHARF_SHARED_DIR)" >&2
  exit 2
}
N=${N:-50000}
RUNS=${RUNS:-3}
DUR=${DUR:-10}
BASELINE=${BASELINE:-harness}
BASELINE_TIMEOUT=${BASELINE_TIMEOUT:-180}
QUIET_MAX=${QUIET_MAX:-60}
CONCURRENCY=${CONCURRENCY:-32}
LAT=${LAT:-1}
SUB_CONCURRENCY=${SUB_CONCURRENCY:-64}
LAT_RATE=${LAT_RATE:-2000}
LAT_S=${LAT_S:-10}
case $BASELINE in harness | direct | none) ;; *) echo "bench: BASELINE must be harness, direct or none" >&2 && exit 2 ;; esac

for c in redis-server redis-cli nginx node npm gcc curl; do
  command -v "$c" >/dev/null || { echo "bench: $c missing (deploy/deps.sh bench installs it)" >&2 && exit 2; }
done

WORK=$(mktemp -d -t wharf-dbench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp -R "$SHARED_BENCH/." "$WORK/shared/" 2>/dev/null || { mkdir -p "$WORK/shared" && cp -R "$SHARED_BENCH/." "$WORK/shared/"; }
chmod -R u+w "$WORK/shared"
rm -rf "$WORK/shared/.run" "$WORK/shared/results"
# shellcheck source=/dev/null
source "$WORK/shared/lib.sh" # log ticks proc_snapshot foreign_ticks median cleanup MY_PIDS BG_PIDS HZ RUN
# lib.sh's REDIS_PORT (16379) stays the harness's own: this script's Redis is W_RPORT

OUT=$ROOT/bench/results/dispatch-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" "$OUT/logs"
RUNS_TSV=$OUT/runs.tsv
printf 'target\tround\tmode\tdeliveries_s\tdelivered\tseconds\tcpu_us_delivery\tredis_cpu_us\tsink_cpu_us\trss_kb\tforeign_cpu_pct\tnote\n' >"$RUNS_TSV"

W_PID=
bench_cleanup() {
  local rc=$?
  cleanup # lib.sh: stops every pid in MY_PIDS/BG_PIDS
  cp "$RUN"/*.log "$OUT/logs/" 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "temp dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# --- wharf binary --------------------------------------------------------------------------------------
# Default: the committed HEAD, built (Release) from `git archive HEAD` in a private directory, never in
# build/ (other work may be rebuilding build/ or have the tree mid-edit); cached per commit in
# bench/results/.bin/. WHARF_BIN=path measures that binary instead (e.g. build/wharf for uncommitted work);
# it is copied first so that a concurrent rebuild cannot swap it mid-run.
if [ -z "${WHARF_BIN:-}" ]; then
  HEAD_SHA=$(git rev-parse HEAD)
  WHARF_BIN=$ROOT/bench/results/.bin/wharf-$HEAD_SHA
  if [ ! -x "$WHARF_BIN" ]; then
    log "building wharf $HEAD_SHA (Release) from git archive HEAD in $WORK/src"
    mkdir -p "$WORK/src" "$ROOT/bench/results/.bin"
    git archive HEAD | tar -x -C "$WORK/src"
    cmake -S "$WORK/src" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DWHARF_WERROR=OFF >"$RUN/cmake.log" 2>&1
    cmake --build "$WORK/build" -j"$(nproc)" --target wharf >>"$RUN/cmake.log" 2>&1 || {
      tail -20 "$RUN/cmake.log" >&2
      exit 1
    }
    cp "$WORK/build/CMakeCache.txt" "$WHARF_BIN.cmakecache"
    cp "$WORK/build/wharf" "$WHARF_BIN"
  fi
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$WHARF_BIN.cmakecache" 2>/dev/null || true)
else
  cc=$(dirname "$WHARF_BIN")/CMakeCache.txt
  [ -f "$WHARF_BIN.cmakecache" ] && cc=$WHARF_BIN.cmakecache
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cc" 2>/dev/null || true)
fi
cp "$WHARF_BIN" "$WORK/wharf"


# like ingest.sh: lib.sh's idle-box wait, but giving up after QUIET_MAX s (the foreign-CPU figure of the
# run is still recorded in runs.tsv)
wait_quiet() {
  local quiet=0 a b t0=$SECONDS
  while ((quiet < 2)); do
    a=$(sys_all)
    sleep 1
    b=$(sys_all)
    if ((b - a <= 10)) && [ -z "$(pgrep -x wrk; pgrep -x redis-benchmark)" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    if ((QUIET_MAX > 0 && SECONDS - t0 >= QUIET_MAX)); then
      log "the box did not go idle within ${QUIET_MAX}s ($((b - a)) ticks/s); measuring anyway"
      return 0
    fi
  done
}
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
vmkb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ms_now() { echo $((${EPOCHREALTIME/./} / 1000)); }

{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r), cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "wharf: $(git -C "$ROOT" rev-parse --short HEAD) (tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null)) ($WHARF_BIN, built $(date -u -r "$WHARF_BIN" +%FT%TZ), CMAKE_BUILD_TYPE=${BUILD_TYPE:-?})"
  echo "libcurl: $(curl-config --version 2>/dev/null || curl --version | head -1)"
  echo "node: $(node --version)"
  echo "redis: $(redis-server --version)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "N=$N RUNS=$RUNS DUR=$DUR BASELINE=$BASELINE CONCURRENCY=$CONCURRENCY SUB_CONCURRENCY=$SUB_CONCURRENCY"
} >"$OUT/versions.txt"
[ "${BUILD_TYPE:-}" = Release ] || log "warning: $WHARF_BIN was not built with CMAKE_BUILD_TYPE=Release (${BUILD_TYPE:-unknown})"

log "preparing $WORK (npm ci for node-dispatch, floor.c)"
(cd "$WORK/shared/node-dispatch" && npm ci --no-audit --no-fund --loglevel=error) >"$RUN/npm-ci.log" 2>&1 || {
  log "npm ci failed: $(tail -3 "$RUN/npm-ci.log")"
  exit 1
}
gcc -O2 -Wall -o "$WORK/curl-floor" "$ROOT/bench/dispatch/floor.c" -lcurl
# the Go baseline (direct mode only), built offline from Debian's golang-go and redigo packages
GO_DISPATCH=
if [ "${GO:-1}" = 1 ] && [ "$BASELINE" != none ]; then
  if "$WORK/shared/go-dispatch/build.sh" >"$RUN/go-build.log" 2>&1; then GO_DISPATCH=go-dispatch; else log "go-dispatch did not build (see $RUN/go-build.log): left out"; fi
fi

# --- our Redis and sink (free ports; the harness keeps its fixed 16379/18091 to itself) ----------------
W_RPORT=$(free_port)
SINK_PORT=$(free_port)
W_PORT=$(free_port)
mkdir -p "$WORK/redis" "$WORK/nginx"
redis-server --port "$W_RPORT" --save '' --appendonly yes --appendfsync everysec --dir "$WORK/redis" \
  >"$RUN/wharf-redis.log" 2>&1 &
W_RPID=$!
MY_PIDS+=("$W_RPID")
wcli() { redis-cli -p "$W_RPORT" "$@"; }
until wcli ping >/dev/null 2>&1; do sleep 0.1; done
cat >"$WORK/nginx/sink.conf" <<EOF
# ../shared/bench/nginx/sink.conf on a free port, plus a stub_status location (request counter)
worker_processes 1;
daemon off;
pid $WORK/nginx/sink.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 16k;
    client_body_temp_path $WORK/nginx/body;
    server {
        listen 127.0.0.1:$SINK_PORT;
        location = /__requests { stub_status; }
        location / { return 200; }
    }
}
EOF
nginx -p "$WORK/nginx/" -e stderr -c "$WORK/nginx/sink.conf" >"$RUN/sink.log" 2>&1 &
SINK_MAIN=$!
MY_PIDS+=("$SINK_MAIN")
wait_port "$SINK_PORT"
sleep 0.3
# shellcheck disable=SC2207
SINK_PIDS=("$SINK_MAIN" $(pgrep -P "$SINK_MAIN"))
SINK_URL=http://127.0.0.1:$SINK_PORT
sink_requests() { curl -s "$SINK_URL/__requests" | awk 'NR==3{print $3}'; } # counts itself too

redis_compact() { # like lib.sh's redis_reset, on our Redis
  wcli BGREWRITEAOF >/dev/null 2>&1 || true
  sleep 0.2
  while wcli INFO persistence | grep -Eq '^aof_rewrite_(in_progress|scheduled):1'; do sleep 0.2; done
}

# --- wharf -------------------------------------------------------------------------------------------
ADMIN=bench-admin-token-$RANDOM$RANDOM
HS_SECRET=$SECRET # lib.sh's HubSpot client secret
PUB=http://127.0.0.1:$W_PORT
wharf_env() {
  echo WHARF_REDIS_URL="redis://127.0.0.1:$W_RPORT/0" WHARF_LISTEN="127.0.0.1:$W_PORT" WHARF_ADMIN_TOKEN="$ADMIN" \
    WHARF_INSECURE_DEV=1 WHARF_ALLOW_PRIVATE_DESTINATIONS=1 WHARF_PUBLIC_URL="$PUB"
}
wharf_start() { # $1 role, $2 log name; sets W_PID
  # shellcheck disable=SC2046
  env $(wharf_env) "$WORK/wharf" serve --role "$1" >>"$RUN/$2.log" 2>&1 &
  W_PID=$!
  MY_PIDS+=("$W_PID")
}
wharf_stop() {
  [ -n "$W_PID" ] && srv_stop "$W_PID"
  W_PID=
}
wait_ready() {
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$PUB/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  log "wharf did not become ready (see $RUN/*.log)"
  return 1
}
api() { # $1 method, $2 path, $3 token, $4 body -> prints the body, fails unless 2xx
  local out code
  out=$(curl -sS -X "$1" "$PUB$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
    ${4:+-d "$4"} -w '\n%{http_code}')
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [[ $code != 2* ]]; then log "api $1 $2: $code $out" && return 1; fi
  printf '%s' "$out"
}
jget() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$1" "$2"; }
# an empty Redis with one environment, one HubSpot connection (portal 62515) and one subscription to the sink
wharf_setup() { # $1 log name
  local env tok
  wcli FLUSHALL >/dev/null
  wharf_start gateway "$1"
  wait_ready
  env=$(api POST /v1/environments "$ADMIN" '{"name":"dispatch bench"}')
  tok=$(jget "$env" apiToken)
  api POST /v1/connections "$tok" "{\"integrationId\":\"hubspot\",\"externalAccountId\":62515,\"credentials\":{\"clientSecret\":\"$HS_SECRET\"}}" >/dev/null
  api POST /v1/subscriptions "$tok" "{\"url\":\"$SINK_URL/deliver\",\"eventTypes\":[\"*\"],\"maxConcurrency\":$SUB_CONCURRENCY}" >/dev/null
}
# sum of queued stream entries and pending/in-flight deliveries, printed every 20 ms by one redis-cli
PENDING_LUA='local n=0 for p=0,7 do n=n+redis.call("XLEN","wh:q:{p"..p.."}")+redis.call("ZCARD","wh:dq:{p"..p.."}") end return n'

wharf_run() { # $1 round
  local round=$1 ld w0 w1 r0 r1 s0 s1 c0 c1 hits0 hits1 n rate secs hwm other note dlq left tag mem0 mem1 store
  log "wharf #$round: queueing $N events through the gateway"
  wharf_setup "wharf-gateway.$round"
  mem0=$(wcli INFO memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}')
  tag=$((round * 10 + RANDOM % 10))
  ld=$(node "$ROOT/bench/dispatch/load.js" "$N" "$PUB" "$PUB" "$HS_SECRET" "$WORK/shared/body.json" "$tag") || {
    log "load.js failed: $ld"
    exit 1
  }
  echo "$ld" >"$OUT/raw/wharf-load.$round.json"
  wharf_stop
  n=$(wcli EVAL "$PENDING_LUA" 0)
  log "wharf #$round: loaded ($ld); $n stream entries queued; gateway stopped"
  redis_compact
  wait_quiet
  hits0=$(sink_requests)
  r0=$(ticks "$W_RPID")
  s0=$(ticks "${SINK_PIDS[@]}")
  wcli CONFIG RESETSTAT >/dev/null
  proc_snapshot "$RUN/ps0"
  w0=$(ms_now)
  wharf_start worker "wharf-worker.$round"
  c0=$(ticks "$W_PID")
  local perf_w='' perf_r=''
  if [ "${PERF:-0}" = 1 ] && [ "$round" = 1 ]; then # profile round 1 (perf's own cost lands in that round)
    sleep 0.3 # perf -p follows the threads that exist when it attaches: let the worker thread start first
    perf record -q --call-graph "${PERF_CG:-fp}" -F 999 -p "$W_PID" -o "$OUT/raw/perf.worker.data" >/dev/null 2>&1 &
    perf_w=$!
    perf record -q -g -F 999 -p "$W_RPID" -o "$OUT/raw/perf.redis.data" >/dev/null 2>&1 &
    perf_r=$!
    MY_PIDS+=("$perf_w" "$perf_r")
  fi
  # one redis-cli repeating the count every 20 ms until it reads 0
  while read -r n; do
    [ "$n" = 0 ] && break
    if (($(ms_now) - w0 > 600000)); then log "wharf #$round: not drained after 600 s ($n left)" && break; fi
  done < <(redis-cli -p "$W_RPORT" -r -1 -i 0.02 EVAL "$PENDING_LUA" 0)
  w1=$(ms_now)
  c1=$(ticks "$W_PID")
  hwm=$(vmkb "$W_PID" VmHWM)
  proc_snapshot "$RUN/ps1"
  r1=$(ticks "$W_RPID")
  s1=$(ticks "${SINK_PIDS[@]}")
  hits1=$(sink_requests)
  # what the worker asked of Redis, per delivery (scripts show as evalsha; the poller's EVALs as eval)
  wcli INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$N" '/^cmdstat_/{sub("cmdstat_", "", $1)
      printf "%-14s calls/delivery %7.3f  usec/delivery %7.2f  usec/call %7.2f\n", $1, $3 / n, $5 / n, $7}' \
    >"$OUT/raw/redis-commandstats.$round.txt"
  if [ -n "$perf_w" ]; then
    kill -INT "$perf_w" "$perf_r" 2>/dev/null || true
    wait "$perf_w" "$perf_r" 2>/dev/null || true
    read -r -a MY_PIDS <<<"$(forget_from "${MY_PIDS[*]}" "$perf_w" "$perf_r" | tr '\n' ' ')"
  fi
  wharf_stop
  if [ -n "$perf_w" ]; then
    perf report -i "$OUT/raw/perf.worker.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$OUT/raw/perf.worker.txt" || true
    perf report -i "$OUT/raw/perf.redis.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$OUT/raw/perf.redis.txt" || true
    log "perf profiles of round 1: raw/perf.worker.txt, raw/perf.redis.txt"
  fi
  secs=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.3f", (b - a) / 1000}')
  n=$((hits1 - hits0 - 1))
  rate=$(awk -v n="$N" -v s="$secs" 'BEGIN{printf "%.0f", n / s}')
  other=$(awk -v t="$(foreign_ticks "$RUN/ps0" "$RUN/ps1")" -v w=$((w1 - w0)) -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz * 1e5 / w}')
  dlq=$(wcli EVAL 'local n=0 for p=0,7 do n=n+redis.call("EXISTS","wh:dlq:{p"..p.."}") end return n' 0)
  left=$(wcli --scan --pattern 'wh:d:*' | wc -l)
  # what stays in Redis per delivered event (the queue is empty again): used_memory growth over the round, and the
  # event store's own keys (MEMORY USAGE of every wh:evb*/wh:evi* key)
  mem1=$(wcli INFO memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}')
  store=$(wcli EVAL 'local n, c = 0, "0" repeat local r = redis.call("SCAN", c, "MATCH", "wh:ev*", "COUNT", 1000) c = r[1]
      for _, k in ipairs(r[2]) do n = n + (redis.call("MEMORY", "USAGE", k, "SAMPLES", "0") or 0) end until c == "0" return n' 0)
  printf 'used_memory growth %s bytes = %s bytes/event; event store keys (wh:evb*, wh:evi*) %s bytes = %s bytes/event\n' \
    "$((mem1 - mem0))" "$(((mem1 - mem0) / N))" "$store" "$((store / N))" | tee "$OUT/raw/redis-memory.$round.txt" >&2
  # where the rest goes: MEMORY USAGE summed per key prefix (the part before the first "{" or ":<digits>"), and
  # one event record as stored
  wcli EVAL 'local t, c = {}, "0" repeat local r = redis.call("SCAN", c, "COUNT", 1000) c = r[1]
      for _, k in ipairs(r[2]) do local p = k:gsub("{.*$", ""):gsub(":%d+$", "")
        t[p] = (t[p] or 0) + (redis.call("MEMORY", "USAGE", k, "SAMPLES", "0") or 0) end until c == "0"
      local o = {} for p, n in pairs(t) do o[#o + 1] = p .. " " .. n end return o' 0 |
    sort -k2 -n -r | awk -v n="$N" '{printf "%-24s %12d bytes  %8.1f bytes/event\n", $1, $2, $2 / n}' \
      >>"$OUT/raw/redis-memory.$round.txt"
  wcli EVAL 'local r = redis.call("SCAN", "0", "MATCH", "wh:evb:*", "COUNT", 1000)[2]
      for _, k in ipairs(r) do if redis.call("TYPE", k).ok == "hash" then
        return redis.call("HRANDFIELD", k, 1, "WITHVALUES") end end return {}' 0 >"$OUT/raw/wharf-sample-record.$round.txt"
  note="sink got $n POSTs for $N events; dead-letter keys $dlq; delivery hashes left $left; Redis $(((mem1 - mem0) / N)) B/event retained"
  [ "$n" = "$N" ] && [ "$dlq" = 0 ] && [ "$left" = 0 ] && note="ok: $note" || note="MISMATCH: $note"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' wharf "$round" drain "$rate" "$n" "$secs" \
    "$(awk -v t=$((c1 - c0)) -v n="$N" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
    "$(awk -v t=$((r1 - r0)) -v n="$N" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
    "$(awk -v t=$((s1 - s0)) -v n="$N" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
    "$hwm" "$other" "$note" >>"$RUNS_TSV"
  log "wharf #$round: $N deliveries in ${secs}s = $rate/s, worker $(((c1 - c0) * 1000000 / HZ / N)) us/delivery, VmHWM ${hwm} KiB, foreign ${other}% of a core; $note"
}

# --- curl-multi floor --------------------------------------------------------------------------------
curl_floor_run() { # $1 round
  local round=$1 out s0 s1 w0 w1 other line
  wait_quiet
  s0=$(ticks "${SINK_PIDS[@]}")
  proc_snapshot "$RUN/ps0"
  w0=$(ms_now)
  out=$(env SINK_URL="$SINK_URL" WARMUP_S=1 DURATION_S="$DUR" "$WORK/curl-floor")
  w1=$(ms_now)
  proc_snapshot "$RUN/ps1"
  s1=$(ticks "${SINK_PIDS[@]}")
  echo "$out" >"$OUT/raw/curl-floor.$round.json"
  other=$(awk -v t="$(foreign_ticks "$RUN/ps0" "$RUN/ps1")" -v w=$((w1 - w0)) -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz * 1e5 / w}')
  line=$(node -e 'const j=JSON.parse(process.argv[1]);console.log([j.per_s.toFixed(0),j.delivered,process.argv[2],(j.cpu_s*1e6/j.delivered_total).toFixed(1),"-",(process.argv[3]/process.argv[4]*1e6/j.delivered_total).toFixed(1),j.rss_kb,process.argv[5],"failed "+j.failed].join("\t"))' \
    "$out" "$DUR" $((s1 - s0)) "$HZ" "$other")
  printf 'curl-floor\t%s\tloop\t%s\n' "$round" "$line" >>"$RUNS_TSV"
  log "curl-floor #$round: $out"
}

# --- baselines -----------------------------------------------------------------------------------------
baseline_harness() { # $1 round; 0 when run-dispatch.sh finished and its medians were recorded
  local round=$1 before d rc=0
  before=$(ls -d "$WORK/shared/results"/dispatch-* 2>/dev/null | wc -l)
  log "baseline #$round: ../shared/bench/run-dispatch.sh dispatch-1p floor-1p (RUNS=1 DUR=$DUR, up to ${BASELINE_TIMEOUT}s)"
  (cd "$WORK/shared" && RUNS=1 DUR="$DUR" timeout "$BASELINE_TIMEOUT" ./run-dispatch.sh dispatch-1p floor-1p) \
    >"$OUT/logs/run-dispatch.$round.log" 2>&1 || rc=$?
  d=$(ls -d "$WORK/shared/results"/dispatch-* 2>/dev/null | tail -1)
  if ((rc != 0)) || [ "$(ls -d "$WORK/shared/results"/dispatch-* 2>/dev/null | wc -l)" = "$before" ] || [ ! -s "$d/medians.tsv" ]; then
    log "baseline #$round: run-dispatch.sh did not finish (rc $rc; see logs/run-dispatch.$round.log)"
    return 1
  fi
  cp -R "$d" "$OUT/raw/baseline.$round"
  # medians.tsv: config runs deliveries_s delivered window_s drained failed disp_cpu_us redis_cpu_us sink_cpu_us disp_rss_kb foreign_cpu_pct
  awk -F'\t' -v r="$round" 'NR>1{t=$1=="dispatch-1p"?"node-dispatch-1p":"node-floor-1p"
      printf "%s\t%s\tharness\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tchecks: %s\n", t, r, $3, $4, $5, $8, ($9==""?"-":$9), $10, $11, $12, "see raw/baseline." r "/checks.txt"}' \
    "$d/medians.tsv" >>"$RUNS_TSV"
  grep -q FAIL "$d/checks.txt" && log "baseline #$round: a correctness check FAILED ($d/checks.txt)"
  return 0
}
# the same node scripts and parameters as run-dispatch.sh's one_run, on our Redis and sink
baseline_direct() { # $1 round
  local round=$1 cfg out s0 s1 r0 r1 w0 w1 other denv line
  denv="REDIS_URL=redis://127.0.0.1:$W_RPORT STREAM=hubspot:events GROUP=dispatch"
  for cfg in dispatch-1p $GO_DISPATCH floor-1p; do
    wait_quiet
    if [ "$cfg" != floor-1p ]; then
      wcli FLUSHALL >/dev/null
      # shellcheck disable=SC2086
      (cd "$WORK/shared/node-dispatch" && env $denv node prefill.js 200000) >>"$RUN/prefill.log" 2>&1
      redis_compact
      wait_quiet
    fi
    r0=$(ticks "$W_RPID")
    s0=$(ticks "${SINK_PIDS[@]}")
    proc_snapshot "$RUN/ps0"
    w0=$(ms_now)
    if [ "$cfg" = dispatch-1p ]; then
      # shellcheck disable=SC2086
      out=$(cd "$WORK/shared/node-dispatch" && env $denv CONSUMER=c1 SINK_URL="$SINK_URL" WARMUP_S=1 DURATION_S="$DUR" node dispatch.js)
    elif [ "$cfg" = go-dispatch ]; then
      # the same dispatcher in Go (../shared/bench/go-dispatch: what Convoy/Outpost users run), same env and output
      # shellcheck disable=SC2086
      out=$(cd "$WORK/shared/go-dispatch" && env $denv CONSUMER=c1 SINK_URL="$SINK_URL" WARMUP_S=1 DURATION_S="$DUR" ./go-dispatch)
    else
      out=$(cd "$WORK/shared/node-dispatch" && env SINK_URL="$SINK_URL" WARMUP_S=1 DURATION_S="$DUR" node floor.js)
    fi
    w1=$(ms_now)
    proc_snapshot "$RUN/ps1"
    r1=$(ticks "$W_RPID")
    s1=$(ticks "${SINK_PIDS[@]}")
    echo "$out" >"$OUT/raw/$cfg.$round.direct.json"
    other=$(awk -v t="$(foreign_ticks "$RUN/ps0" "$RUN/ps1")" -v w=$((w1 - w0)) -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz * 1e5 / w}')
    line=$(node -e 'const [o,dur,rt,st,hz,oth,isd]=process.argv.slice(1);const j=JSON.parse(o);const n=j.delivered_total;
      const w=j.window_s||Number(dur);console.log([(j.delivered/w).toFixed(0),j.delivered,w.toFixed(2),(j.cpu_s*1e6/n).toFixed(1),
      isd==="1"?(rt/hz*1e6/n).toFixed(1):"-",(st/hz*1e6/n).toFixed(1),j.rss_kb,oth,"failed "+j.failed+(j.drained?", drained":"")+", rss at exit"].join("\t"))' \
      "$out" "$DUR" $((r1 - r0)) $((s1 - s0)) "$HZ" "$other" "$([ "$cfg" != floor-1p ] && echo 1 || echo 0)")
    printf '%s\t%s\tdirect\t%s\n' "$([ "$cfg" = go-dispatch ] && echo go-dispatch || echo "node-$cfg")" "$round" "$line" >>"$RUNS_TSV"
    log "$cfg #$round (direct): $out"
  done
  wcli FLUSHALL >/dev/null
}

# --- end-to-end delivery latency (wharf only): fixed-rate ingest, all roles, a sink that timestamps ---------
latency_run() {
  local sink_port lat_pid out
  sink_port=$(free_port)
  node "$ROOT/bench/dispatch/latency-sink.js" "$sink_port" >"$OUT/raw/latency-sink.json" 2>"$RUN/latency-sink.log" &
  lat_pid=$!
  MY_PIDS+=("$lat_pid")
  wait_port "$sink_port"
  wcli FLUSHALL >/dev/null
  SINK_URL_SAVE=$SINK_URL
  SINK_URL=http://127.0.0.1:$sink_port
  wharf_setup wharf-all-latency # starts a gateway; replaced by an all-roles process below
  SINK_URL=$SINK_URL_SAVE
  wharf_stop
  wharf_start all wharf-all-latency
  wait_ready
  wait_quiet
  log "latency: $LAT_RATE events/s for ${LAT_S}s through wharf (all roles), arrival timestamped by a node sink"
  out=$(RATE="$LAT_RATE" node "$ROOT/bench/dispatch/load.js" $((LAT_RATE * LAT_S)) "$PUB" "$PUB" "$HS_SECRET" \
    "$WORK/shared/body.json" 99) || log "latency load: $out"
  echo "$out" >"$OUT/raw/latency-load.json"
  for _ in $(seq 1 600); do [ "$(wcli EVAL "$PENDING_LUA" 0)" = 0 ] && break; sleep 0.1; done
  sleep 0.2
  wharf_stop
  srv_stop "$lat_pid" # prints its summary on SIGTERM
  node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    require("fs").writeFileSync(process.argv[1].replace(/json$/,"first-body.json"), j.first_body);
    console.log(`p50 ${j.p50_ms} ms, p90 ${j.p90_ms} ms, p99 ${j.p99_ms} ms, max ${j.max_ms} ms (ingest request scheduled -> delivery received; ${process.argv[2]} events/s for ${process.argv[3]} s; ${j.deliveries} deliveries, ${j.distinct_webhook_ids} distinct webhook-ids, ${j.unparsed} without occurredAt)`)' \
    "$OUT/raw/latency-sink.json" "$LAT_RATE" "$LAT_S" >"$OUT/raw/latency.txt"
  log "latency: $(cat "$OUT/raw/latency.txt")"
}

# --- main: interleave rounds -----------------------------------------------------------------------------
for round in $(seq 1 "$RUNS"); do
  log "== round $round of $RUNS"
  wharf_run "$round"
  curl_floor_run "$round"
  case $BASELINE in
  harness)
    # once run-dispatch.sh could not finish (busy box), the remaining rounds run the baseline directly
    baseline_harness "$round" || {
      log "baseline #$round: falling back to direct (for this and the remaining rounds)"
      BASELINE=direct
      baseline_direct "$round"
    }
    ;;
  direct) baseline_direct "$round" ;;
  esac
done
if [ "$LAT" = 1 ] && [ -f "$ROOT/bench/dispatch/latency-sink.js" ]; then latency_run || log "latency run failed"; fi

# --- report ---------------------------------------------------------------------------------------------
report() {
  awk -F'\t' -v runs="$RUNS" -v n="$N" -v dur="$DUR" -v sc="$SUB_CONCURRENCY" -v latf="$OUT/raw/latency.txt" '
    function med(arr, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
                                      return k ? arr[int((k + 1) / 2)] : "" }
    NR == 1 { next }
    { t = $1; c[t]++; k = c[t]; R[t, k] = $4 + 0; CPU[t, k] = $7; RED[t, k] = $8; RSS[t, k] = $10 + 0; FOR[t, k] = $11 + 0
      modes[t] = modes[t] (index(modes[t], $3) ? "" : (modes[t] == "" ? "" : ",") $3)
      if ($12 ~ /^MISMATCH/) bad[t]++ }
    END {
      nt = split("wharf node-dispatch-1p go-dispatch node-floor-1p curl-floor", T, " ")
      for (i = 1; i <= nt; i++) { t = T[i]; m = c[t]
        for (j = 1; j <= m; j++) a[j] = R[t, j]; M[t] = med(a, m)
        mn = ""; mx = ""; for (j = 1; j <= m; j++) { if (mn == "" || R[t, j] < mn) mn = R[t, j]; if (mx == "" || R[t, j] > mx) mx = R[t, j] }
        MN[t] = mn; MX[t] = mx
        for (j = 1; j <= m; j++) a[j] = CPU[t, j] + 0; MC[t] = med(a, m)
        q = 0; for (j = 1; j <= m; j++) if (RED[t, j] != "-") a[++q] = RED[t, j] + 0; MR[t] = q ? sprintf("%.1f", med(a, q)) : "–"
        mr = 0; for (j = 1; j <= m; j++) if (RSS[t, j] > mr) mr = RSS[t, j]; PR[t] = mr
        mf = 0; for (j = 1; j <= m; j++) if (FOR[t, j] > mf) mf = FOR[t, j]; MF[t] = mf }
      printf "Dispatch: %d round(s); wharf drains %d queued events per round; baselines and floors: 1 s warm-up + %d s. Medians (min–max).\n\n", runs, n, dur
      print "| target | deliveries/s | × node dispatch-1p | × go-dispatch | × floor-1p (undici) | × curl-floor | CPU µs/delivery (process) | Redis µs/delivery | peak RSS MiB | runs (mode) | max foreign CPU % |"
      print "|---|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= nt; i++) { t = T[i]; if (!c[t]) continue
        printf "| %s | %s (%s–%s) | %s | %s | %s | %s | %.1f | %s | %.1f | %d (%s)%s | %d |\n", t, M[t], MN[t], MX[t],
          (M["node-dispatch-1p"] ? sprintf("%.2f×", M[t] / M["node-dispatch-1p"]) : "–"),
          (M["go-dispatch"] ? sprintf("%.2f×", M[t] / M["go-dispatch"]) : "–"),
          (M["node-floor-1p"] ? sprintf("%.2f×", M[t] / M["node-floor-1p"]) : "–"),
          (M["curl-floor"] ? sprintf("%.2f×", M[t] / M["curl-floor"]) : "–"),
          MC[t], MR[t], PR[t] / 1024, c[t], modes[t], (bad[t] ? ", " bad[t] " MISMATCH" : ""), MF[t] }
      print ""
      if (M["wharf"]) {
        if (M["node-dispatch-1p"]) { x = M["wharf"] / M["node-dispatch-1p"]; printf "wharf / node dispatch-1p: %.2fx  (issue 9 target >= 2x at maxConcurrency 64, >= 1.5x with a default subscription: subscription maxConcurrency here %d)\n", x, sc }
        if (M["go-dispatch"]) { x = M["wharf"] / M["go-dispatch"]; printf "wharf / go-dispatch:      %.2fx\n", x }
        if (M["curl-floor"]) { x = MC["wharf"] / MC["curl-floor"]; printf "wharf worker CPU / curl-multi floor CPU per delivery: %.2fx  (target <= 1.5x: %s)\n", x, (x <= 1.5 ? "met" : "NOT met") }
        if (MR["wharf"] != "–") printf "wharf Redis CPU per delivery: %s us  (target <= 6: %s; node dispatch-1p: %s us)\n", MR["wharf"], (MR["wharf"] + 0 <= 6 ? "met" : "NOT met"), MR["node-dispatch-1p"]
        printf "wharf worker peak RSS (VmHWM): %.1f MiB  (target <= 30 MiB: %s)\n", PR["wharf"] / 1024, (PR["wharf"] / 1024 <= 30 ? "met" : "NOT met")
        printf "wharf zero-loss / exactly-once-at-sink check: %d/%d rounds ok\n", c["wharf"] - bad["wharf"], c["wharf"]
      }
      if ((getline l < latf) > 0 && l != "") print "wharf end-to-end delivery latency at a fixed rate (all roles in one process): " l
    }' "$RUNS_TSV"
}
report | tee "$OUT/summary.md"
log "done: $OUT"
