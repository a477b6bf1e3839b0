#!/usr/bin/env bash
# bench/cache.sh: wharf's synced cache measured on this box (see bench/README.md, "Cache"): how fast the
# worker applies change events to the cache, what that costs (worker and Redis CPU, memory), and how fast
# the cache API answers filtered reads over N cached contacts.
#
# usage: bench/cache.sh                                  (N=100000, RUNS=3: ~4-6 min on this 2-core box)
#        N=5000 RUNS=1 REQS=50 QUIET_MAX=1 bench/cache.sh    (smoke, ~15 s)
#        WHARF_BIN=build/wharf bench/cache.sh             (an uncommitted build instead of HEAD)
# Per round (RUNS rounds; every round starts from an empty Redis):
#   push     `wharf serve --role gateway`; one environment, one HubSpot connection with
#            sync {objects: {contacts: true}}, no subscription; N distinct contacts (bench/cache/data.js:
#            id, updatedAt, createdAt, firstName, lastName, email, phone, jobTitle, accountId, ownerId and 3
#            `additional` properties, ~355 bytes of JSON each) pushed through POST
#            /v1/connections/{id}/sync/records, BATCH per request (500: the route takes up to 1000 records,
#            but 1000 of these exceed the API's 256 KiB body limit), 4 requests in flight
#            (bench/cache/push.js). The gateway is stopped, the AOF compacted.
#   apply    `wharf serve --role worker` alone, timed from its start until every partition stream
#            wh:q:{p0..7} is empty (one redis-cli polls the summed XLEN every 20 ms): events/s = N / drain
#            time (startup included). No subscription, so nothing is delivered: this is the apply path
#            (read batch, sync config, apply.lua per event, ack). Measured: the worker's CPU (utime+stime,
#            /proc) and Redis's (INFO cpu) per event, the worker's VmHWM, Redis used_memory per cached
#            contact (after - before the push, queue emptied), split into the cache and the 7-day event log
#            (wh:ev:*, wh:evi:*, measured by deleting it after the drain), INFO commandstats per event.
#            Checked: ZCARD wh:ids:{c:<conn>}:contact = N, every text/number index of contact holds N entries.
#   read     the gateway again; bench/cache/read.js: get one record, list limit=100,
#            lastName:startsWith:<3 letters> limit=100, email:eq:<one>, updatedAt:gt:<instant> limit=100,
#            firstName:eq + updatedAt:gt (two filters ANDed) limit=100: REQS sequential requests each (one
#            keep-alive connection), then REQS with CONC in flight; every answer checked; p50/p90/p99.
#   update   (UPDATE_PCT > 0) UPDATE_PCT % of the contacts pushed again with an updatedAt one year later
#            and a changed phone and lead status, then drained and measured like apply (the update path:
#            index moves, changed-field detection). Checked: ZCARD still N, the updatedAt index holds
#            exactly the updated count in the later year, contact 20000001 has its new phone.
# The script exits non-zero when a check or a read answer fails.
#
# environment: N=100000 (contacts)  RUNS=3  BATCH=500 (records per push request, <= 1000 and <= 256 KiB)
#              REQS=500 (requests per read kind and mode)  CONC=8 (in flight in the concurrent read pass; 0 or 1:
#              none)  UPDATE_PCT=20 (a divisor of 100; 0 skips the update pass)
#              PERF=1: perf record (callgraph, 999 Hz) the worker and Redis during round 1's drains
#                (raw/perf.{worker,redis}.<pass>.data); their figures include perf's own cost
#              QUIET_MAX=10: longest wait (s) for an idle box before each drain and read pass (the foreign CPU
#              is recorded either way)
#              WHARF_BIN: the binary to measure (copied before use); default: HEAD built (Release) from
#              `git archive HEAD` in a temp dir, cached as bench/results/.bin/wharf-<commit>; build/ is never
#              touched.  KEEP_WORK=1 keeps the temp dir.
# Needs: redis-server, redis-cli, node (>= 18), curl, cmake + a C toolchain for the default build.
# Results: bench/results/cache-<date>/{summary.md,apply.tsv,reads.jsonl,versions.txt,raw/,logs/}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
N=${N:-100000}
RUNS=${RUNS:-3}
REQS=${REQS:-500}
CONC=${CONC:-8}
UPDATE_PCT=${UPDATE_PCT:-20}
export BATCH=${BATCH:-500}
QUIET_MAX=${QUIET_MAX:-10}
if ((UPDATE_PCT > 0)) && ((100 % UPDATE_PCT != 0)); then echo "bench: UPDATE_PCT must divide 100" >&2 && exit 2; fi
for c in redis-server redis-cli node curl; do
  command -v "$c" >/dev/null || { echo "bench: $c missing (deploy/deps.sh bench installs it)" >&2 && exit 2; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
HZ=$(getconf CLK_TCK)
MY_PIDS=()
WORK=$(mktemp -d -t wharf-cbench.XXXXXX)
RUN=$WORK/run
mkdir -p "$RUN"
OUT=$ROOT/bench/results/cache-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" "$OUT/logs"
APPLY_TSV=$OUT/apply.tsv
READS=$OUT/reads.jsonl
: >"$READS"
printf 'round\tpass\tevents\tpush_rec_s\tdrain_s\tevents_s\tworker_cpu_us\tredis_cpu_us\tworker_hwm_kb\tcache_bytes_contact\tevlog_bytes_event\tforeign_cpu_pct\tcheck\n' >"$APPLY_TSV"

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
sys_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; } # the whole box's busy ticks
vmkb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ms_now() { echo $((${EPOCHREALTIME/./} / 1000)); }
# wait for an idle box (<= 10 busy ticks/s for 2 s), at most QUIET_MAX s
wait_quiet() {
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
  echo "node: $(node --version)"
  echo "redis: $(redis-server --version)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "N=$N RUNS=$RUNS BATCH=$BATCH REQS=$REQS CONC=$CONC UPDATE_PCT=$UPDATE_PCT QUIET_MAX=$QUIET_MAX"
} >"$OUT/versions.txt"

# --- Redis: our own, free port, the other benches' flags (AOF everysec, no RDB) --------------------------
W_RPORT=$(free_port)
W_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$W_RPORT" --save '' --appendonly yes --appendfsync everysec --dir "$WORK/redis" \
  >"$RUN/redis.log" 2>&1 &
W_RPID=$!
MY_PIDS+=("$W_RPID")
wcli() { redis-cli -p "$W_RPORT" "$@"; }
until wcli ping >/dev/null 2>&1; do sleep 0.1; done
redis_compact() {
  wcli BGREWRITEAOF >/dev/null 2>&1 || true
  sleep 0.2
  while wcli INFO persistence | grep -Eq '^aof_rewrite_(in_progress|scheduled):1'; do sleep 0.2; done
}
redis_cpu_us() { wcli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{t+=$2} END{printf "%.0f", t * 1e6}'; }
redis_mem() { wcli INFO memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}'; }

# --- wharf -----------------------------------------------------------------------------------------------
ADMIN=bench-admin-token-$RANDOM$RANDOM$RANDOM
PUB=http://127.0.0.1:$W_PORT
CONN=conn_cachebench
TAG="{c:$CONN}"
W_PID=
wharf_start() { # $1 role, $2 log name; sets W_PID
  env WHARF_REDIS_URL="redis://127.0.0.1:$W_RPORT/0" WHARF_LISTEN="127.0.0.1:$W_PORT" WHARF_ADMIN_TOKEN="$ADMIN" \
    WHARF_INSECURE_DEV=1 WHARF_PUBLIC_URL="$PUB" "$WORK/wharf" serve --role "$1" >>"$RUN/$2.log" 2>&1 &
  W_PID=$!
  MY_PIDS+=("$W_PID")
}
wharf_stop() {
  [ -n "$W_PID" ] && stop_pid "$W_PID"
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
PENDING_LUA='local n=0 for p=0,7 do n=n+redis.call("XLEN","wh:q:{p"..p.."}") end return n'

# start the worker alone on the queued events and time it until the streams are empty; appends a row
drain() { # $1 round, $2 pass (apply|update), $3 events queued, $4 push JSON, $5 used_memory before the push
  local round=$1 pass=$2 ev=$3 push=$4 mem0=$5 w0 w1 r0 r1 b0 b1 wt hwm n secs mem1 mem2 other bpc evb check
  redis_compact
  wait_quiet
  wcli CONFIG RESETSTAT >/dev/null
  r0=$(redis_cpu_us)
  b0=$(sys_busy)
  local rt0 rt1
  rt0=$(ticks "$W_RPID")
  w0=$(ms_now)
  wharf_start worker "worker.$round.$pass"
  local perf_w='' perf_r=''
  if [ "${PERF:-0}" = 1 ] && [ "$round" = 1 ]; then # profile round 1 (perf's own cost lands in it)
    perf record -q -g -F 999 -p "$W_PID" -o "$OUT/raw/perf.worker.$pass.data" >/dev/null 2>&1 &
    perf_w=$!
    perf record -q -g -F 999 -p "$W_RPID" -o "$OUT/raw/perf.redis.$pass.data" >/dev/null 2>&1 &
    perf_r=$!
    MY_PIDS+=("$perf_w" "$perf_r")
  fi
  while read -r n; do
    [ "$n" = 0 ] && break
    if (($(ms_now) - w0 > 600000)); then log "#$round $pass: not drained after 600 s ($n left)" && break; fi
  done < <(redis-cli -p "$W_RPORT" -r -1 -i 0.02 EVAL "$PENDING_LUA" 0)
  w1=$(ms_now)
  if [ -n "$perf_w" ]; then
    kill -INT "$perf_w" "$perf_r" 2>/dev/null
    wait "$perf_w" "$perf_r" 2>/dev/null
  fi
  wt=$(ticks "$W_PID") # a fresh process: all of its CPU, startup included
  hwm=$(vmkb "$W_PID" VmHWM)
  b1=$(sys_busy)
  rt1=$(ticks "$W_RPID")
  r1=$(redis_cpu_us)
  wcli INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$ev" '/^cmdstat_/{sub("cmdstat_", "", $1)
      printf "%-14s calls/event %8.3f  usec/event %7.2f  usec/call %7.2f\n", $1, $3 / n, $5 / n, $7}' \
    >"$OUT/raw/redis-commandstats.$round.$pass.txt"
  wharf_stop
  secs=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.3f", (b - a) / 1000}')
  # foreign: the box's busy ticks minus the worker's and Redis's (the poller and this script count as foreign)
  other=$(awk -v t=$((b1 - b0 - wt - (rt1 - rt0))) -v w=$((w1 - w0)) -v hz="$HZ" 'BEGIN{if (t < 0) t = 0; printf "%.0f", t / hz * 1e5 / w}')
  mem1=$(redis_mem)
  bpc=- evb=-
  if [ "$pass" = apply ]; then
    # used_memory splits into the cache (records, versions, indexes) and the event log every change event
    # also leaves (wh:ev:*, wh:evi:*: GET /v1/events, kept 7 days): measured apart by deleting the log
    wcli --scan --pattern 'wh:ev:*' | xargs -r -n 1000 redis-cli -p "$W_RPORT" DEL >/dev/null
    wcli --scan --pattern 'wh:evi:*' | xargs -r -n 1000 redis-cli -p "$W_RPORT" DEL >/dev/null
    mem2=$(redis_mem)
    bpc=$(((mem2 - mem0) / N))
    evb=$(((mem1 - mem2) / N))
  fi
  check=$(checks "$pass")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$pass" "$ev" \
    "$(jget "$push" records_per_s)" "$secs" "$(awk -v n="$ev" -v s="$secs" 'BEGIN{printf "%.0f", n / s}')" \
    "$(awk -v t="$wt" -v n="$ev" -v hz="$HZ" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}')" \
    "$(awk -v t=$((r1 - r0)) -v n="$ev" 'BEGIN{printf "%.1f", t / n}')" \
    "$hwm" "$bpc" "$evb" "$other" "$check" >>"$APPLY_TSV"
  log "#$round $pass: $(tail -1 "$APPLY_TSV" | tr '\t' ' ')"
}
# correctness after a drain: the live set, every index of contact, and (update) the moved updatedAt entries
checks() { # $1 pass -> "ok: …" | "FAIL: …"
  local ids f c bad='' later upd
  ids=$(wcli ZCARD "wh:ids:$TAG:contact")
  [ "$ids" = "$N" ] || bad+=" ZCARD wh:ids=$ids"
  for f in email firstName lastName phone accountId ownerId; do
    c=$(wcli ZCARD "wh:ixt:$TAG:contact:$f")
    [ "$c" = "$N" ] || bad+=" ixt:$f=$c"
  done
  for f in updatedAt createdAt; do
    c=$(wcli ZCARD "wh:ixn:$TAG:contact:$f")
    [ "$c" = "$N" ] || bad+=" ixn:$f=$c"
  done
  later=$(node -e 'console.log(require(process.argv[1]).T0 + require(process.argv[1]).YEAR)' "$ROOT/bench/cache/data.js")
  c=$(wcli ZCOUNT "wh:ixn:$TAG:contact:updatedAt" "$later" +inf)
  if [ "$1" = update ]; then
    upd=$(((N + UPDATE_STEP - 1) / UPDATE_STEP))
    [ "$c" = "$upd" ] || bad+=" updatedAt>=next year: $c, expected $upd"
    # record 0 is among the updated: its phone must be the new one
    c=$(wcli HGET "wh:obj:$TAG:contact:20000001" phone)
    [ "$c" = "$(node -e 'console.log(JSON.stringify(require(process.argv[1]).record(0,1).phone))' "$ROOT/bench/cache/data.js")" ] ||
      bad+=" contact 20000001 phone=$c"
  else
    [ "$c" = 0 ] || bad+=" updatedAt>=next year: $c"
  fi
  if [ -z "$bad" ]; then echo "ok: ZCARD wh:ids = $ids = N, 8 indexes of $N entries"; else echo "FAIL:$bad"; fi
}

UPDATE_STEP=0
((UPDATE_PCT > 0)) && UPDATE_STEP=$((100 / UPDATE_PCT))
TOTAL_FAILS=0
for round in $(seq 1 "$RUNS"); do
  log "== round $round of $RUNS: N=$N"
  wcli FLUSHALL >/dev/null
  wharf_start gateway "gateway.$round"
  wait_ready
  env_json=$(api POST /v1/environments "$ADMIN" '{"name":"cache bench","kind":"production"}')
  TOKEN=$(jget "$env_json" apiToken)
  api POST /v1/connections "$TOKEN" "{\"connectionId\":\"$CONN\",\"integrationId\":\"hubspot\",\"externalAccountId\":\"62515\",\"credentials\":{\"clientSecret\":\"bench-secret-$RANDOM\"},\"sync\":{\"objects\":{\"contacts\":true}}}" >/dev/null
  mem0=$(redis_mem)
  log "#$round: pushing $N contacts through POST /v1/connections/$CONN/sync/records"
  push=$(node "$ROOT/bench/cache/push.js" "$PUB" "$TOKEN" "$CONN" "$N" 0) || { log "push.js failed: $push"; exit 1; }
  echo "$push" >"$OUT/raw/push.$round.apply.json"
  wharf_stop
  log "#$round: pushed ($push); $(wcli EVAL "$PENDING_LUA" 0) stream entries queued; gateway stopped"
  drain "$round" apply "$N" "$push" "$mem0"
  if [ "$round" = 1 ]; then # where the memory goes: one record's two hashes, and each index
    {
      echo "used_memory per contact: see apply.tsv; keys of contact 20000001 and the indexes (MEMORY USAGE, bytes):"
      for k in "wh:obj:$TAG:contact:20000001" "wh:ver:$TAG:contact:20000001" "wh:ids:$TAG:contact" \
        "wh:ixt:$TAG:contact:"{email,firstName,lastName,phone,accountId,ownerId} "wh:ixn:$TAG:contact:"{updatedAt,createdAt}; do
        printf '%-55s %s (%s)\n' "$k" "$(wcli MEMORY USAGE "$k" SAMPLES 0)" "$(wcli OBJECT ENCODING "$k")"
      done
      wcli INFO memory | tr -d '\r' | grep -E '^(used_memory|used_memory_dataset|used_memory_overhead|mem_fragmentation_ratio):'
      wcli INFO keyspace | tr -d '\r' | grep '^db'
    } >"$OUT/raw/memory.$round.txt"
  fi
  grep -q '^.*FAIL' <(tail -1 "$APPLY_TSV") && TOTAL_FAILS=$((TOTAL_FAILS + 1))

  wharf_start gateway "gateway.$round.read"
  wait_ready
  wait_quiet
  log "#$round: reads over $N cached contacts (REQS=$REQS each, sequential and CONC=$CONC)"
  GW_PID=$W_PID REDIS_PID=$W_RPID REQS=$REQS CONC=$CONC node "$ROOT/bench/cache/read.js" "$PUB" "$TOKEN" "$CONN" "$N" 0 "$round" |
    sed "s/^{/{\"round\":$round,/" >>"$READS" || { log "read.js failed"; exit 1; }

  if ((UPDATE_PCT > 0)); then
    log "#$round: pushing updates of $UPDATE_PCT % of the contacts (every ${UPDATE_STEP}th, updatedAt one year later)"
    push=$(node "$ROOT/bench/cache/push.js" "$PUB" "$TOKEN" "$CONN" "$N" 1 0 "$UPDATE_STEP") || { log "push.js failed: $push"; exit 1; }
    echo "$push" >"$OUT/raw/push.$round.update.json"
    wharf_stop
    drain "$round" update "$(jget "$push" records)" "$push" "$(redis_mem)"
    grep -q 'FAIL' <(tail -1 "$APPLY_TSV") && TOTAL_FAILS=$((TOTAL_FAILS + 1))
  else
    wharf_stop
  fi
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"

# --- report -------------------------------------------------------------------------------------------------
# shellcheck disable=SC2016 # the node and awk programs are single-quoted on purpose
report() {
  echo "Cache: wharf $(git -C "$ROOT" rev-parse --short HEAD), N=$N contacts, $RUNS round(s); medians (min–max) over rounds. $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "Apply (worker alone draining the queued sync records into the cache; no subscription):"
  echo
  echo "| pass | events | push rec/s (gateway) | events/s | worker CPU µs/event | Redis CPU µs/event | worker VmHWM MiB | Redis bytes/contact (cache) | + event log bytes/event | foreign CPU % of a core | checks |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '
    function med(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                    return a[int((k + 1) / 2)] }
    function col(p, c,   j, a) { for (j = 1; j <= n[p]; j++) a[j] = V[p, j, c] + 0; return med(a, n[p]) }
    function rng(p, c,   j, mn, mx) { mn = mx = V[p, 1, c] + 0; for (j = 2; j <= n[p]; j++) { if (V[p, j, c] < mn) mn = V[p, j, c] + 0; if (V[p, j, c] > mx) mx = V[p, j, c] + 0 }
                                      return n[p] > 1 ? sprintf(" (%s–%s)", mn, mx) : "" }
    NR == 1 { next }
    { p = $2; k = ++n[p]; for (c = 1; c <= NF; c++) V[p, k, c] = $c; if ($13 !~ /^ok/) bad[p]++
      if (!(p in seen)) { seen[p] = 1; order[++np] = p } }
    END { for (i = 1; i <= np; i++) { p = order[i]
        hw = 0; for (j = 1; j <= n[p]; j++) if (V[p, j, 9] > hw) hw = V[p, j, 9]
        printf "| %s | %d | %d | **%d**%s | %.1f | %.1f | %.1f | %s | %s | %d | %d/%d ok |\n", p, col(p, 3), col(p, 4), col(p, 6), rng(p, 6),
          col(p, 7), col(p, 8), hw / 1024, (p == "apply" ? col(p, 10) : "–"), (p == "apply" ? col(p, 11) : "–"), col(p, 12), n[p] - bad[p], n[p] } }' "$APPLY_TSV"
  echo
  echo "Reads over $N cached contacts (\`GET /v1/cache/{conn}/contact…\`, node client, keep-alive; ms):"
  echo
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
    const med = (a) => { a = a.slice().sort((x, y) => x - y); return a[(a.length - 1) >> 1]; };
    const names = { get: "get one record", list: "list, limit=100", prefix: "lastName:startsWith:<3 letters>, limit=100",
      email: "email:eq:<one>", updated: "updatedAt:gt:<instant>, limit=100", and2: "firstName:eq + updatedAt:gt, limit=100" };
    const modes = [...new Set(rows.map((r) => r.mode))];
    const conc = modes.find((m) => m !== "seq");
    let h = "| request | rows/answer | seq p50 | seq p90 | seq p99 | seq req/s | gateway CPU µs/req | Redis CPU µs/req";
    if (conc) h += ` | ${conc} p50 | ${conc} p90 | ${conc} p99 | ${conc} req/s`;
    h += " | foreign CPU % of a core | errors |";
    console.log(h);
    console.log("|" + "---|".repeat(h.split("|").length - 2));
    for (const k of Object.keys(names)) {
      const s = rows.filter((r) => r.kind === k && r.mode === "seq"), c = rows.filter((r) => r.kind === k && r.mode === conc);
      if (!s.length) continue;
      const m = (a, f) => med(a.map((r) => r[f]));
      let l = `| ${names[k]} | ${m(s, "rows_mean")} | ${m(s, "p50_ms")} | ${m(s, "p90_ms")} | **${m(s, "p99_ms")}** | ${m(s, "req_s")} | ${m(s, "gw_cpu_us")} | ${m(s, "redis_cpu_us")}`;
      if (conc) l += ` | ${m(c, "p50_ms")} | ${m(c, "p90_ms")} | ${m(c, "p99_ms")} | ${m(c, "req_s")}`;
      console.log(l + ` | ${med([...s, ...c].map((r) => r.foreign_cpu_pct))} | ${[...s, ...c].reduce((a, r) => a + r.errors, 0)} |`);
    }
    const e = rows.find((r) => r.first_error); if (e) console.log(`\nfirst wrong answer: ${e.first_error}`);' "$READS"
  echo
  echo "Redis commands per event (round 1): raw/redis-commandstats.1.*.txt; memory breakdown: raw/memory.1.txt"
}
report | tee "$OUT/summary.md"
if ((TOTAL_FAILS > 0)) || grep -q '"errors":[1-9]' "$READS"; then
  log "done, with FAILED checks: $OUT"
  exit 1
fi
log "done: $OUT"
