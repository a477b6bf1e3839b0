#!/usr/bin/env bash
# bench/pipeline.sh: wharf end to end (issue 9; see bench/README.md, "Pipeline"): a provider's signed HubSpot
# webhook in, the customer's signed delivery out, through one `wharf serve` (all roles) on one Redis.
#
# usage: bench/pipeline.sh                     (RATES="2000 5000 10000 15000 20000", DUR=10, RUNS=1: ~5-10 min;
#                                              a rate above capacity leaves a backlog that is drained before the next)
#        QUICK=1 bench/pipeline.sh             (RATES="2000 5000", DUR=5, no search: ~1-2 min)
#        RUNS=3 bench/pipeline.sh              (for the record)
#        WHARF_BIN=build/wharf bench/pipeline.sh   (an uncommitted build instead of HEAD)
#        CLUSTER=1 bench/pipeline.sh           (the same on a 3-master Redis Cluster on loopback: Redis CPU and
#                                              commandstats are summed over the masters)
# What runs:
#   redis-server  private, free port, the baselines' flags (AOF on, appendfsync everysec, no RDB)
#   wharf         `wharf serve --role all` (gateway + worker in one process), WHARF_ALLOW_PRIVATE_DESTINATIONS=1;
#                 one environment, one HubSpot connection (portal 62515, sync {objects: {contacts: true}}: every
#                 event is also applied to the synced cache), one subscription eventTypes ["*"],
#                 maxConcurrency SUB_CONCURRENCY, to the sink; all created through the API
#   sink          bench/pipeline/sink.c (C, epoll): 200 to every delivery; logs its arrival (CLOCK_REALTIME µs)
#                 and data.objectId
#   provider      bench/pipeline/gen.js pre-signs the step's requests (distinct events, EVENTS_PER_REQ per
#                 request, objectId = eventId = step base + sequence number k); bench/pipeline/send.c sends
#                 them open loop: request j is due at t0 + j / (RATE / EVENTS_PER_REQ), on any idle one of
#                 SEND_CONNS keep-alive connections, whether or not earlier ones were answered
# Per step (one rate, DUR seconds): wait for an idle box (at most QUIET_MAX s), CONFIG RESETSTAT, send, wait
# until the sink has every event (at most DRAIN_MAX s) and the queue is empty (XLEN wh:q:{p0..7} and ZCARD
# wh:dq:{p0..7} all 0), then bench/pipeline/lat.js: latency of event k = its arrival at the sink - the time
# its request was *scheduled* (not sent: queueing in the generator counts; no coordinated omission).
# A step passes when every request was answered 202, every event was delivered exactly once (no missing,
# no duplicate), and p99 <= P99_MAX_MS. After the RATES (all of them, every run), SEARCH_STEPS more single
# steps bisect between the highest passing rate (every lower listed rate passing too) and the next listed
# rate; the highest rate that passed is reported as the sustained rate.
# Also per step: Redis CPU per event (INFO cpu delta / events) and INFO commandstats per event
# (raw/redis-commandstats.*.txt), wharf's CPU per event, VmRSS after the step and VmHWM, the sink's and the
# sender's CPU, the box's foreign CPU (everything else), the sender's own lateness and the 202 latency.
#
# environment: RATES="2000 5000 10000 15000 20000" (events/s)  DUR=10 (s per step)  RUNS=1
#              EVENTS_PER_REQ=3 (events per HubSpot request, 1..100; body.json's batch of 3)
#              SEND_CONNS=64 (the provider's keep-alive connections)  SUB_CONCURRENCY=64 (maxConcurrency, 1..256)
#              P99_MAX_MS=50  SEARCH_STEPS=2 (0: no search)  WARM_S=3 at WARM_RATE=2000 events/s (not recorded)
#              DRAIN_MAX=180 (s: a step not drained by then fails and ends its run)  QUIET_MAX=10
#              PERF_RATE=<one of RATES>: perf record (callgraph, 999 Hz) wharf while that step sends
#              (raw/perf.wharf.<rate>.data; that step's figures include perf's cost)
#              CLUSTER=1: three masters (cluster-enabled, same flags), wharf given the first one's address
#              QUICK=1: RATES="2000 5000" DUR=5 RUNS=1 SEARCH_STEPS=0 WARM_S=2 unless set
#              WHARF_BIN: the binary to measure (copied before use); default: HEAD built (Release) from
#              `git archive HEAD` in a temp dir, cached as bench/results/.bin/wharf-<commit>; build/ is never
#              touched.  KEEP_WORK=1 keeps the temp dir.  WHARF_SHARED_DIR=../shared (body.json is read
#              from its bench/, copied to the temp dir at run time)
# Needs: redis-server, redis-cli, node (>= 18), curl, gcc (deploy/deps.sh bench), cmake for the default build.
# Results: bench/results/pipeline-<date>/{summary.md,runs.tsv,versions.txt,raw/,logs/}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SHARED_BENCH=$(cd "${WHARF_SHARED_DIR:-$ROOT/../shared}/bench" 2>/dev/null && pwd) || {
  echo "bench: ../shared/bench not found next to the repository (or set WHARF_SHARED_DIR)" >&2
  exit 2
}
if [ "${QUICK:-0}" = 1 ]; then
  RATES=${RATES:-"2000 5000"} DUR=${DUR:-5} RUNS=${RUNS:-1} SEARCH_STEPS=${SEARCH_STEPS:-0} WARM_S=${WARM_S:-2}
fi
RATES=${RATES:-"2000 5000 10000 15000 20000"}
DUR=${DUR:-10}
RUNS=${RUNS:-1}
PER=${EVENTS_PER_REQ:-3}
SEND_CONNS=${SEND_CONNS:-64}
SUB_CONCURRENCY=${SUB_CONCURRENCY:-64}
P99_MAX_MS=${P99_MAX_MS:-50}
SEARCH_STEPS=${SEARCH_STEPS:-2}
WARM_S=${WARM_S:-3}
WARM_RATE=${WARM_RATE:-2000}
DRAIN_MAX=${DRAIN_MAX:-180}
QUIET_MAX=${QUIET_MAX:-10}
CLUSTER=${CLUSTER:-0}
read -r -a RATE_LIST <<<"$RATES"
for r in "${RATE_LIST[@]}" "$WARM_RATE"; do
  [[ $r =~ ^[1-9][0-9]*$ ]] || { echo "bench: rates must be positive integers (events/s)" >&2 && exit 2; }
done
((PER >= 1 && PER <= 100)) || { echo "bench: EVENTS_PER_REQ must be 1..100" >&2 && exit 2; }
for c in redis-server redis-cli node curl gcc; do
  command -v "$c" >/dev/null || { echo "bench: $c missing (deploy/deps.sh bench installs it)" >&2 && exit 2; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
HZ=$(getconf CLK_TCK)
MY_PIDS=()
WORK=$(mktemp -d -t wharf-pbench.XXXXXX)
RUN=$WORK/run
mkdir -p "$RUN"
OUT=$ROOT/bench/results/pipeline-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" "$OUT/logs"
RUNS_TSV=$OUT/runs.tsv
printf 'run\tstep\trate\tevents\treq_s\tachieved_ev_s\tack_p99_ms\tlag_p99_ms\tdelivered\tmissing\tduplicates\tp50_ms\tp90_ms\tp99_ms\tmax_ms\tlast_arrival_s\twharf_cpu_us_ev\tredis_cpu_us_ev\tsink_cpu_us_ev\tsend_cpu_us_ev\twharf_rss_kb\twharf_hwm_kb\tforeign_cpu_pct\tirq_steal_pct\tverdict\n' >"$RUNS_TSV"

stop_pid() { # SIGTERM, wait (wharf drains on SIGTERM), SIGKILL after 30 s; forget the pid
  local p=$1 i
  kill "$p" 2>/dev/null || true
  for i in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  local keep=() q
  for q in "${MY_PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  MY_PIDS=("${keep[@]}")
}
bench_cleanup() {
  local rc=$? i
  for ((i = ${#MY_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${MY_PIDS[i]}"; done
  cp "$RUN"/*.log "$OUT/logs/" 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "temp dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# --- wharf binary (as dispatch.sh) ---------------------------------------------------------------------
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
[ "${BUILD_TYPE:-}" = Release ] || log "warning: $WHARF_BIN was not built with CMAKE_BUILD_TYPE=Release (${BUILD_TYPE:-unknown})"
cp "$SHARED_BENCH/body.json" "$WORK/body.json"
gcc -O2 -Wall -o "$WORK/sink" "$ROOT/bench/pipeline/sink.c"
gcc -O2 -Wall -o "$WORK/send" "$ROOT/bench/pipeline/send.c"

# --- helpers -------------------------------------------------------------------------------------------
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ticks() { # utime+stime of the given pids, clock ticks
  local t=0 p a
  for p in "$@"; do
    read -r -a a < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + a[11] + a[12]))
  done
  echo "$t"
}
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; } # the whole box's busy ticks (idle wait)
# user+nice+system (what processes use: foreign = this - ours) and irq+softirq+steal (loopback TCP's softirq
# work, which /proc/<pid>/stat does not charge to our processes, and the hypervisor's steal)
sys_split() { awk '/^cpu /{print $2+$3+$4, $7+$8+$9}' /proc/stat; }
vmkb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ms_now() { echo $((${EPOCHREALTIME/./} / 1000)); }
jnum() { node -e 'const v=JSON.parse(process.argv[1])[process.argv[2]];console.log(v===null||v===undefined?"-":v)' "$1" "$2"; }
wait_quiet() { # an idle box (<= 10 busy ticks/s for 2 s), at most QUIET_MAX s
  local quiet=0 a b t0=$SECONDS
  while ((quiet < 2)); do
    a=$(sys_busy)
    sleep 1
    b=$(sys_busy)
    if ((b - a <= 10)); then quiet=$((quiet + 1)); else quiet=0; fi
    if ((QUIET_MAX > 0 && SECONDS - t0 >= QUIET_MAX)); then
      log "the box did not go idle within ${QUIET_MAX}s ($((b - a)) ticks/s); measuring anyway"
      return 0
    fi
  done
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r), cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "wharf: $(git -C "$ROOT" rev-parse --short HEAD) (tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null)) ($WHARF_BIN, CMAKE_BUILD_TYPE=${BUILD_TYPE:-?})"
  echo "libcurl: $(curl-config --version 2>/dev/null || curl --version | head -1)"
  echo "node: $(node --version)"
  echo "redis: $(redis-server --version)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "RATES=\"$RATES\" DUR=$DUR RUNS=$RUNS EVENTS_PER_REQ=$PER SEND_CONNS=$SEND_CONNS SUB_CONCURRENCY=$SUB_CONCURRENCY P99_MAX_MS=$P99_MAX_MS SEARCH_STEPS=$SEARCH_STEPS WARM_S=$WARM_S WARM_RATE=$WARM_RATE DRAIN_MAX=$DRAIN_MAX QUIET_MAX=$QUIET_MAX CLUSTER=$CLUSTER"
} >"$OUT/versions.txt"

# --- Redis, sink, wharf -----------------------------------------------------------------------------------
W_RPORT=$(free_port)
W_PORT=$(free_port)
SINK_PORT=$(free_port)
W_RPORTS=("$W_RPORT")
W_RPIDS=()
if [ "$CLUSTER" = 1 ]; then
  # free ports whose cluster bus port (+10000) is free too
  W_RPORTS=()
  while [ "${#W_RPORTS[@]}" -lt 3 ]; do
    p=$(free_port)
    if ((p + 10000 <= 65535)) && ! (echo >"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null; then W_RPORTS+=("$p"); fi
  done
  W_RPORT=${W_RPORTS[0]}
fi
for p in "${W_RPORTS[@]}"; do
  mkdir -p "$WORK/redis-$p"
  # shellcheck disable=SC2046
  redis-server --port "$p" --save '' --appendonly yes --appendfsync everysec --dir "$WORK/redis-$p" \
    $([ "$CLUSTER" = 1 ] && echo --cluster-enabled yes --cluster-config-file nodes.conf) >"$RUN/redis-$p.log" 2>&1 &
  W_RPIDS+=($!)
  MY_PIDS+=($!)
done
W_RPID=${W_RPIDS[0]}
for p in "${W_RPORTS[@]}"; do until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done; done
if [ "$CLUSTER" = 1 ]; then
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${W_RPORTS[@]}") --cluster-replicas 0 --cluster-yes >"$RUN/cluster-create.log" 2>&1
  for p in "${W_RPORTS[@]}"; do
    until redis-cli -p "$p" CLUSTER INFO | grep -q 'cluster_state:ok'; do sleep 0.1; done
  done
fi
wcli() { redis-cli -c -p "$W_RPORT" "$@"; }
wcli_each() { for p in "${W_RPORTS[@]}"; do redis-cli -p "$p" "$@"; done; }
redis_cpu_us() { wcli_each INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{t+=$2} END{printf "%.0f", t * 1e6}'; }
redis_ticks() { local t=0 pid; for pid in "${W_RPIDS[@]}"; do t=$((t + $(ticks "$pid"))); done; echo "$t"; }
# queued stream entries + delivery tasks waiting in Redis, all partitions (one keyed command each: a cluster routes it)
pending_count() {
  local n=0 p
  for p in 0 1 2 3 4 5 6 7; do n=$((n + $(wcli XLEN "wh:q:{p$p}") + $(wcli ZCARD "wh:dq:{p$p}"))); done
  echo "$n"
}
dlq_count() {
  local n=0 p
  for p in 0 1 2 3 4 5 6 7; do n=$((n + $(wcli EXISTS "wh:dlq:{p$p}"))); done
  echo "$n"
}

SINK_LOG=$WORK/sink.log # the sink also writes the first delivery's body to $SINK_LOG.first
"$WORK/sink" "$SINK_PORT" "$SINK_LOG" >"$RUN/sink.log" 2>&1 &
SINK_PID=$!
MY_PIDS+=("$SINK_PID")
SINK_URL=http://127.0.0.1:$SINK_PORT
until curl -s "$SINK_URL/count" >/dev/null 2>&1; do sleep 0.05; done

ADMIN=bench-admin-token-$RANDOM$RANDOM$RANDOM
HS_SECRET=bench-pipeline-hubspot-secret-$RANDOM$RANDOM
PUB=http://127.0.0.1:$W_PORT
env WHARF_REDIS_URL="redis://127.0.0.1:$W_RPORT/0" WHARF_LISTEN="127.0.0.1:$W_PORT" WHARF_ADMIN_TOKEN="$ADMIN" \
  WHARF_INSECURE_DEV=1 WHARF_ALLOW_PRIVATE_DESTINATIONS=1 WHARF_PUBLIC_URL="$PUB" \
  "$WORK/wharf" serve --role all >>"$RUN/wharf.log" 2>&1 &
W_PID=$!
MY_PIDS+=("$W_PID")
for i in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$PUB/readyz")" = 200 ] && break
  ((i < 100)) || { log "wharf did not become ready (see logs/wharf.log)" && exit 1; }
  sleep 0.1
done
api() { # $1 method, $2 path, $3 token, $4 body -> prints the body, fails unless 2xx
  local out code
  out=$(curl -sS -X "$1" "$PUB$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
    ${4:+-d "$4"} -w '\n%{http_code}')
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [[ $code != 2* ]]; then log "api $1 $2: $code $out" && return 1; fi
  printf '%s' "$out"
}
ENV_JSON=$(api POST /v1/environments "$ADMIN" '{"name":"pipeline bench"}')
TOK=$(jnum "$ENV_JSON" apiToken)
CONN_JSON=$(api POST /v1/connections "$TOK" "{\"integrationId\":\"hubspot\",\"externalAccountId\":62515,\"credentials\":{\"clientSecret\":\"$HS_SECRET\"},\"sync\":{\"objects\":{\"contacts\":true}}}")
SUB_JSON=$(api POST /v1/subscriptions "$TOK" "{\"url\":\"$SINK_URL/deliver\",\"eventTypes\":[\"*\"],\"maxConcurrency\":$SUB_CONCURRENCY}")
printf '%s\n%s\n' "$CONN_JSON" "$SUB_JSON" | sed 's/"secret":"[^"]*"/"secret":"…"/' >"$OUT/raw/setup.json"
log "wharf (all roles) on :$W_PORT, Redis :$W_RPORT, sink :$SINK_PORT; connection $(jnum "$CONN_JSON" connectionId), subscription $(jnum "$SUB_JSON" subscriptionId)"

# --- one step: RATE events/s for DUR s ----------------------------------------------------------------------
STEP=0
EXPECTED=0 # deliveries the sink must have seen so far (every step's events; nothing else is delivered)
LAST_VERDICT=
# $1 run label, $2 rate, $3 seconds, $4 record (1) or warm-up (0); sets LAST_VERDICT (pass|FAIL…|ABORT…)
step() {
  local run=$1 rate=$2 secs=$3 record=$4 events base req_rate file sendj latj got pend i dlq
  local w0 w1 r0 r1 s0 s1 b0 b1 q0 q1 rc0 rc1 verdict p99 cpu_send rss hwm other
  STEP=$((STEP + 1))
  events=$((rate * secs))
  base=$((STEP * 1000000000))
  req_rate=$(awk -v r="$rate" -v p="$PER" 'BEGIN{printf "%.4f", r / p}')
  file=$WORK/req.$STEP
  node "$ROOT/bench/pipeline/gen.js" "$events" "$PER" "$base" "$HS_SECRET" "$PUB" "$WORK/body.json" "$file"
  [ "$record" = 1 ] && wait_quiet
  wcli_each CONFIG RESETSTAT >/dev/null
  rc0=$(redis_cpu_us)
  w0=$(ticks "$W_PID")
  r0=$(redis_ticks)
  s0=$(ticks "$SINK_PID")
  read -r b0 q0 < <(sys_split)
  local t0ms perf_pid=''
  if [ -n "${PERF_RATE:-}" ] && [ "$rate" = "$PERF_RATE" ] && [ "$record" = 1 ]; then
    perf record -q -g -F 999 -p "$W_PID" -o "$OUT/raw/perf.wharf.$rate.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  t0ms=$(ms_now)
  sendj=$("$WORK/send" -a "127.0.0.1:$W_PORT" -f "$file" -r "$req_rate" -c "$SEND_CONNS") || true
  rm -f "$file"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; fi
  EXPECTED=$((EXPECTED + events))
  # the sink answers once it has seen EXPECTED deliveries (or after DRAIN_MAX s)
  got=$(curl -s --max-time $((DRAIN_MAX + 5)) "$SINK_URL/wait?n=$EXPECTED&ms=$((DRAIN_MAX * 1000))" | tr -d '\n')
  # then the queue: stream entries acknowledged and deleted, no delivery task left (retries would be here)
  for i in $(seq 1 100); do
    pend=$(pending_count)
    [ "$pend" = 0 ] && break
    sleep 0.1
  done
  rc1=$(redis_cpu_us)
  w1=$(ticks "$W_PID")
  r1=$(redis_ticks)
  s1=$(ticks "$SINK_PID")
  read -r b1 q1 < <(sys_split)
  rss=$(vmkb "$W_PID" VmRSS)
  hwm=$(vmkb "$W_PID" VmHWM)
  dlq=$(dlq_count)
  local tag=$run.$rate
  [ "$record" = 1 ] || tag=warmup
  wcli_each INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$events" '/^cmdstat_/{sub("cmdstat_", "", $1)
      c[$1] += $3; u[$1] += $5} END{for (k in c) printf "%-16s calls/event %8.3f  usec/event %8.2f  usec/call %7.2f\n", k, c[k] / n, u[k] / n, u[k] / c[k]}' |
    sort -k5 -nr >"$OUT/raw/redis-commandstats.$tag.txt"
  curl -s "$SINK_URL/count" >/dev/null # flushes the sink's log
  latj=$(node "$ROOT/bench/pipeline/lat.js" "$SINK_LOG" "$sendj" "$events" "$PER" "$base")
  printf '{"run":"%s","rate":%s,"send":%s,"latency":%s,"sink_count":"%s","expected":%s,"pending_after":%s,"dlq_keys":%s}\n' \
    "$run" "$rate" "$sendj" "$latj" "$got" "$EXPECTED" "$pend" "$dlq" >>"$OUT/raw/steps.jsonl"
  if [ "$got" != "$EXPECTED" ]; then EXPECTED=${got:-0}; fi # resynchronise: a step that lost or duplicated events must not poison the next one's wait
  # verdict
  verdict=pass
  local ok missing dup
  ok=$(jnum "$sendj" ok)
  missing=$(jnum "$latj" missing)
  dup=$(jnum "$latj" duplicates)
  p99=$(jnum "$latj" p99_ms)
  local reqs
  reqs=$(jnum "$sendj" requests)
  [ "$ok" = "$reqs" ] || verdict="FAIL: $((reqs - ok)) of $reqs requests not 202 ($(jnum "$sendj" first_bad))"
  if [ "$missing" != 0 ] || [ "$dup" != 0 ]; then verdict="FAIL: $missing missing, $dup duplicates${verdict#pass}"; fi
  if [ "$pend" != 0 ]; then verdict="ABORT: not drained after ${DRAIN_MAX}s ($pend queued or waiting)"; fi
  [ "$dlq" = 0 ] || verdict="FAIL: dead letters${verdict#pass}"
  if [ "$verdict" = pass ] && [ "$p99" != - ] && awk -v a="$p99" -v b="$P99_MAX_MS" 'BEGIN{exit !(a > b)}'; then
    verdict="FAIL: p99 $p99 ms > $P99_MAX_MS ms"
  fi
  LAST_VERDICT=$verdict
  cpu_send=$(jnum "$sendj" cpu_s)
  other=$(awk -v t=$((b1 - b0 - (w1 - w0) - (r1 - r0) - (s1 - s0))) -v c="$cpu_send" -v hz="$HZ" -v ms=$(($(ms_now) - t0ms)) \
    'BEGIN{t = t / hz - c; if (t < 0) t = 0; printf "%.0f", t * 1e5 / ms}')
  if [ "$record" = 1 ]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
      "$run" "$STEP" "$rate" "$events" "$req_rate" \
      "$(awk -v a="$(jnum "$sendj" achieved)" -v p="$PER" 'BEGIN{printf "%.0f", a * p}')" \
      "$(jnum "$sendj" ack_p99_ms)" "$(jnum "$sendj" lag_p99_ms)" "$(jnum "$latj" delivered)" "$missing" "$dup" \
      "$(jnum "$latj" p50_ms)" "$(jnum "$latj" p90_ms)" "$p99" "$(jnum "$latj" max_ms)" "$(jnum "$latj" last_s)" \
      "$(awk -v t=$((w1 - w0)) -v n="$events" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
      "$(awk -v t=$((rc1 - rc0)) -v n="$events" 'BEGIN{printf "%.1f", t / n}')" \
      "$(awk -v t=$((s1 - s0)) -v n="$events" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
      "$(awk -v t="$cpu_send" -v n="$events" 'BEGIN{printf "%.1f", t * 1e6 / n}')" \
      "$rss" "$hwm" "$other" "$(awk -v t=$((q1 - q0)) -v hz="$HZ" -v ms=$(($(ms_now) - t0ms)) 'BEGIN{printf "%.0f", t / hz * 1e5 / ms}')" \
      "$verdict" >>"$RUNS_TSV"
  fi
  log "$([ "$record" = 1 ] && echo "run $run" || echo warm-up): $rate events/s x ${secs}s ($events events, $PER per request): p50 $(jnum "$latj" p50_ms) ms, p99 $p99 ms, max $(jnum "$latj" max_ms) ms; sent $(jnum "$sendj" achieved) req/s (202: $ok/$reqs, ack p99 $(jnum "$sendj" ack_p99_ms) ms, generator lag p99 $(jnum "$sendj" lag_p99_ms) ms); delivered $(jnum "$latj" delivered) (missing $missing, dup $dup); Redis $(awk -v t=$((rc1 - rc0)) -v n="$events" 'BEGIN{printf "%.1f", t / n}') us/event; wharf RSS $((rss / 1024)) MiB; foreign ${other}% of a core: $verdict"
}

# --- main ----------------------------------------------------------------------------------------------------
if ((WARM_S > 0)); then step warmup "$WARM_RATE" "$WARM_S" 0; fi
for run in $(seq 1 "$RUNS"); do
  for rate in "${RATE_LIST[@]}"; do
    step "$run" "$rate" "$DUR" 1
    if [[ $LAST_VERDICT == ABORT* ]]; then
      log "run $run: the queue did not drain; the remaining rates of this run are skipped"
      break
    fi
  done
done

# the search: per listed rate, passing = every run passed; L = the highest listed rate with it and every lower
# one passing, F = the next listed rate; SEARCH_STEPS single steps bisect [L, F] (to multiples of 100/s)
verdict_of() { # $1 rate -> pass | fail | none (never run)
  awk -F'\t' -v r="$1" 'NR>1 && $3==r{n++; if ($25!="pass") f++} END{print n ? (f ? "fail" : "pass") : "none"}' "$RUNS_TSV"
}
mapfile -t SORTED < <(printf '%s\n' "${RATE_LIST[@]}" | sort -n -u)
LOW=0 HIGH=
for r in "${SORTED[@]}"; do
  v=$(verdict_of "$r")
  if [ "$v" = pass ]; then LOW=$r; else
    HIGH=$r
    break
  fi
done
if ((SEARCH_STEPS > 0)) && [ -n "$HIGH" ] && [ "$(verdict_of "$HIGH")" = fail ]; then
  for _ in $(seq 1 "$SEARCH_STEPS"); do
    mid=$((((LOW + HIGH) / 2 + 50) / 100 * 100))
    ((mid > LOW && mid < HIGH)) || break
    step search "$mid" "$DUR" 1
    if [[ $LAST_VERDICT == pass ]]; then LOW=$mid; else HIGH=$mid; fi
    [[ $LAST_VERDICT == ABORT* ]] && break
  done
fi
echo "$LOW ${HIGH:-}" >"$OUT/raw/sustained.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"

# --- report ----------------------------------------------------------------------------------------------------
report() {
  local cs
  if [ "$CLUSTER" = 1 ]; then where="a 3-master Redis Cluster on loopback"; else where="one Redis"; fi
  echo "Pipeline: one \`wharf serve --role all\` on $where (AOF everysec), HubSpot connection syncing contacts, one"
  echo "subscription \`*\` (maxConcurrency $SUB_CONCURRENCY) to a local C sink. Distinct events, $PER per signed request, open loop;"
  echo "latency = arrival at the sink - the request's scheduled send time. $DUR s per step, $RUNS run(s); search steps are single runs."
  echo "wharf $(sed -n 's/^wharf: \([0-9a-f]*\).*/\1/p' "$OUT/versions.txt"); load average $(sed -n 's/^load average at start: //p' "$OUT/versions.txt") at start, $(sed -n 's/^load average at end: //p' "$OUT/versions.txt") at end."
  echo
  awk -F'\t' '
    function med(arr, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
                                      return k ? arr[int((k + 1) / 2)] : "" }
    NR == 1 { next }
    { r = $3; if (!(r in c)) order[++nr] = r; k = ++c[r]
      for (f = 6; f <= 24; f++) V[r, f, k] = $f
      runs[r] = runs[r] (runs[r] == "" ? "" : " ") ($1 == "search" ? "s" : $1)
      if ($25 == "pass") pass[r]++; else if (!(r in why)) why[r] = $25 }
    END {
      # rates in ascending order
      for (i = 1; i <= nr; i++) for (j = i + 1; j <= nr; j++) if (order[j] + 0 < order[i] + 0) { t = order[i]; order[i] = order[j]; order[j] = t }
      print "| events/s | runs | sent events/s | p50 ms | p90 ms | p99 ms (min–max) | max ms | delivered / sent | 202 p99 ms | wharf CPU µs/event | Redis CPU µs/event | sink µs/event | sender µs/event | wharf RSS MiB (VmHWM) | foreign CPU % | irq+steal % | verdict |"
      print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= nr; i++) { r = order[i]; k = c[r]
        for (f = 6; f <= 24; f++) { for (j = 1; j <= k; j++) a[j] = V[r, f, j] + 0; M[f] = med(a, k) }
        mn = ""; mx = ""; for (j = 1; j <= k; j++) { x = V[r, 14, j] + 0; if (mn == "" || x < mn) mn = x; if (mx == "" || x > mx) mx = x }
        dl = 0; ms = 0; du = 0; for (j = 1; j <= k; j++) { dl += V[r, 9, j]; ms += V[r, 10, j]; du += V[r, 11, j] }
        hw = 0; for (j = 1; j <= k; j++) if (V[r, 22, j] > hw) hw = V[r, 22, j]
        printf "| %d | %s | %.0f | %s | %s | **%s**%s | %s | %d / %d%s | %s | %s | %s | %s | %s | %.1f (%.1f) | %s | %s | %s |\n", r, runs[r], M[6], M[12], M[13], M[14],
          (k > 1 ? sprintf(" (%s–%s)", mn, mx) : ""), M[15], dl - du, dl - du + ms, (du ? ", " du " dup" : ""), M[7], M[17], M[18], M[19], M[20],
          M[21] / 1024, hw / 1024, M[23], M[24], (pass[r] == k ? "pass" : why[r]) }
    }' "$RUNS_TSV"
  echo
  read -r low high <"$OUT/raw/sustained.txt"
  if ((low > 0)); then
    echo "Highest sustained rate with p99 <= $P99_MAX_MS ms and every event delivered: **$low events/s**$([ -n "$high" ] && echo " (the next rate tried, $high/s, failed)" || echo " (the highest rate tried)")  (target >= 15000: $( ((low >= 15000)) && echo met || echo NOT met))"
  else
    echo "Highest sustained rate with p99 <= $P99_MAX_MS ms: none of the rates tried passed (target >= 15000: NOT met)"
  fi
  for r in 2000 10000; do
    awk -F'\t' -v r="$r" 'NR>1 && $3==r && $1!="search"{n++; p50=p50 (p50==""?"":", ") $12; p99=p99 (p99==""?"":", ") $14}
      END{if (n) printf "At %d events/s: p50 %s ms, p99 %s ms (per run)\n", r, p50, p99}' "$RUNS_TSV"
  done
  # the 10 000/s step of run 1, else run 1's highest rate
  cs=$( (ls "$OUT"/raw/redis-commandstats.1.10000.txt; ls "$OUT"/raw/redis-commandstats.1.*.txt | sort -t. -k3 -nr) 2>/dev/null | head -1 || true)
  if [ -n "$cs" ]; then
    echo
    echo "Redis commands per event ($(basename "$cs"): all the step's calls / its events, top 8 by time; evalsha's"
    echo "time includes the commands its scripts call, which INFO commandstats also lists on their own lines):"
    echo
    echo '```'
    head -8 "$cs"
    echo '```'
  fi
}
cp "$SINK_LOG.first" "$OUT/raw/first-delivery.txt" 2>/dev/null || true
report | tee "$OUT/summary.md"
log "done: $OUT"
