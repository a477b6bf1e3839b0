#!/usr/bin/env bash
# bench/ingest.sh: wharf's ingest path measured side by side with the peer
# baselines of ../shared/bench (see bench/README.md).
#
# usage: bench/ingest.sh [target ...]    default: wharf node-full nginx-floor
#   wharf        build/wharf serve --role gateway (HTTP only; no worker consumes
#                the streams): verify v3 + parse + queue in Redis, 202 after Redis
#   node-full    the Node baseline (verify, parse, 3 pipelined XADDs, 202 after Redis)
#   nginx-floor  nginx `return 202`, the C HTTP floor
#   (node-noredis and node-floor work too)
# Two closed loops per target: the shared method (body.json resent as is), and
# "distinct": the same body with new event ids in every request, pre-signed by
# bench/unique/gen.js and replayed by bench/unique/rotate.lua. wharf dedupes
# redelivered event ids (design §3), so only the distinct loop measures its
# ingestion (stream writes); the repeated body measures its redelivery path.
# environment: RUNS=3 DUR=10 CONNS=64 WARM_S=5 RATES="1000 5000 10000"
#              MAX_ATTEMPTS=8 MAX_OTHER_PCT=10 (as in the shared harness)
#              QUICK=1: RUNS=1 DUR=5 RATES=5000 MAX_ATTEMPTS=2 (smoke test)
#              QUIET_MAX=600: longest wait for an idle box before a run (0: forever)
#              KEEP_WORK=1 keeps the temp copy of the harness; DISTINCT=0 skips the distinct loop
# Results: bench/results/ingest-<date>/{summary.md,runs.tsv,checks.txt,versions.txt,raw/,logs/}
#
# ../shared is read-only and stays out of this repository: its bench/ folder is
# copied to a temp dir at run time, and everything (npm ci, openloop, nginx
# prefix, scratch files) happens there. lib.sh is sourced from that copy, and
# wharf goes through exactly the baseline's steps: same body.json, same
# signing, same wrk/openloop commands and warm-up, same idle-box and
# foreign-load checks. Targets are interleaved run by run (wharf, node-full,
# nginx-floor, wharf, …) so the box's drift hits all of them alike.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SHARED_BENCH=$(cd "${WHARF_SHARED_DIR:-$ROOT/../shared}/bench" 2>/dev/null && pwd) || {
  echo "bench: ../shared/bench not found next to the repository (or set WHARF_SHARED_DIR)" >&2
  exit 2
}

if [ "${QUICK:-0}" = 1 ]; then
  RUNS=${RUNS:-1} DUR=${DUR:-5} RATES=${RATES:-5000} MAX_ATTEMPTS=${MAX_ATTEMPTS:-2}
fi
RUNS=${RUNS:-3}
DUR=${DUR:-10}
CONNS=${CONNS:-64}
WARM_S=${WARM_S:-5}
RATES=${RATES:-"1000 5000 10000"}
MAX_ATTEMPTS=${MAX_ATTEMPTS:-8}
MAX_OTHER_PCT=${MAX_OTHER_PCT:-10}
QUIET_MAX=${QUIET_MAX:-600}
read -r -a TARGETS <<<"${*:-wharf node-full nginx-floor}"
for t in "${TARGETS[@]}"; do
  case $t in wharf | node-full | node-noredis | node-floor | nginx-floor) ;;
  *) echo "bench: unknown target $t" >&2 && exit 2 ;;
  esac
done

# --- prepare: packages, wharf, the harness copy ----------------------------------------
deploy/deps.sh bench
WHARF_BIN=$ROOT/build/wharf
if [[ " ${TARGETS[*]} " == *" wharf "* ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWHARF_WERROR=OFF >/dev/null # -Werror is for CI only
  cmake --build build -j"$(nproc)" --target wharf
fi

WORK=$(mktemp -d -t wharf-bench.XXXXXX)
cp -R "$SHARED_BENCH/." "$WORK/"
chmod -R u+w "$WORK" # the shared files are read-only; the copy gets node_modules, .run, openloop
rm -rf "$WORK/.run" "$WORK/results"
# shellcheck source=/dev/null
source "$WORK/lib.sh" # BENCH RUN SECRET PUBLIC_BASE_URL, log wait_quiet ticks rss_start … cleanup median
: "${RUN:?lib.sh sets RUN}" "${SECRET:?lib.sh sets SECRET}" "${PUBLIC_BASE_URL:?lib.sh sets PUBLIC_BASE_URL}"

OUT=$ROOT/bench/results/ingest-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/raw" "$OUT/logs"
RUNS_TSV=$OUT/runs.tsv
CHECKS=$OUT/checks.txt
: >"$CHECKS"

W_REDIS_PID=
W_REDIS_DIR=
bench_cleanup() {
  local rc=$?
  cleanup # lib.sh: stops every pid in MY_PIDS/BG_PIDS (servers, both redis-servers, samplers)
  [ -n "$W_REDIS_DIR" ] && rm -rf "$W_REDIS_DIR"
  cp "$RUN"/*.log "$OUT/logs/" 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "harness copy kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# lib.sh's wait_quiet waits for an idle box forever; here it gives up after
# QUIET_MAX s so a busy shared box cannot hang the run: the run's foreign-CPU
# check then records (and retries) it exactly as before.
wait_quiet() {
  local n=0 quiet=0 a b t0=$SECONDS
  while ((quiet < 2)); do
    if [ -n "$(pgrep -x wrk; pgrep -x redis-benchmark)" ]; then
      quiet=0
      ((n % 30 == 0)) && log "waiting: another wrk/redis-benchmark is running"
      sleep 1
    else
      a=$(sys_all)
      sleep 1
      b=$(sys_all)
      if ((b - a <= 10)); then quiet=$((quiet + 1)); else quiet=0; fi
      ((n % 30 == 0 && quiet == 0)) && log "waiting: the box is busy ($((b - a)) ticks/s)"
    fi
    n=$((n + 1))
    if ((QUIET_MAX > 0 && SECONDS - t0 >= QUIET_MAX)); then
      log "the box did not go idle within ${QUIET_MAX}s; measuring anyway (the foreign-CPU check still applies)"
      return 0
    fi
  done
}

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

log "preparing the harness copy in $WORK"
(cd "$WORK/node-ingest" && npm ci --no-audit --no-fund --loglevel=error >"$RUN/npm-ci.log" 2>&1) || {
  cat "$RUN/npm-ci.log" >&2
  exit 1
}
gcc -O2 -Wall -o "$WORK/tools/openloop" "$WORK/tools/openloop.c"
BODY=$WORK/body.json
SIGNED_PATH=/webhooks/hubspot
STREAM=hubspot:events
PORTAL_ID=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].portalId)' "$BODY")
BODY_EVENTS=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).length)' "$BODY")
REDIS_PORT=$(free_port) # the baseline's redis; lib.sh's fixed 16379 may be another run's

{
  echo "date: $(date -u +%FT%TZ)"
  echo "kernel: $(uname -r), cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  [ -x "$WHARF_BIN" ] && echo "wharf: $("$WHARF_BIN" --version 2>&1 | head -1) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit'))"
  echo "node: $(node --version)"
  echo "node-ingest: $(cd "$WORK/node-ingest" && npm ls --depth=0 2>/dev/null | tail -n +2 | tr -d '├└─│ ' | tr '\n' ' ')"
  echo "redis: $(redis-server --version)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "settings: RUNS=$RUNS DUR=$DUR CONNS=$CONNS WARM_S=$WARM_S RATES=\"$RATES\" targets: ${TARGETS[*]}"
} >"$OUT/versions.txt"

# --- signing (as run-ingest.sh: re-signed right before every run) ----------------------
HEX_SIG=$(openssl dgst -sha256 -hmac "$SECRET" -hex <"$BODY" | awk '{print $NF}')
sign_v3() { # $1 timestamp (ms), $2 secret -> base64 signature
  { printf 'POST%s' "$PUBLIC_BASE_URL$SIGNED_PATH"; cat "$BODY"; printf '%s' "$1"; } |
    openssl dgst -sha256 -hmac "$2" -binary | base64 -w0
}
sign_now() {
  TS=$(date +%s%3N)
  SIG=$(sign_v3 "$TS" "$SECRET")
  HDR1="X-HubSpot-Signature-v3: $SIG"
  HDR2="X-HubSpot-Request-Timestamp: $TS"
  HDR3="X-Signature-256: sha256=$HEX_SIG"
}

# --- wharf's redis and queue keys --------------------------------------------------------
W_REDIS_PORT=$(free_port)
wcli() { redis-cli -p "$W_REDIS_PORT" "$@"; }
W_STREAMS=()
for p in 0 1 2 3 4 5 6 7; do W_STREAMS+=("wh:q:{p$p}"); done
w_redis_start() { # same flags as lib.sh's redis_start
  W_REDIS_DIR=$(mktemp -d -t bench-wharf-redis.XXXXXX)
  redis-server --port "$W_REDIS_PORT" --save '' --appendonly yes --appendfsync everysec --dir "$W_REDIS_DIR" \
    >"$RUN/wharf-redis.log" 2>&1 &
  W_REDIS_PID=$!
  MY_PIDS+=("$W_REDIS_PID")
  until wcli ping >/dev/null 2>&1; do sleep 0.1; done
}

# --- targets --------------------------------------------------------------------------------
# per target: URL, server pids, the redis it writes to (pid, port) and what to reset/count
declare -A T_URL T_PIDS T_RPID T_RPORT
start_target() {
  local t=$1 port main _
  port=$(free_port)
  case $t in
  wharf)
    w_redis_start
    WHARF_ADMIN=$(openssl rand -hex 16)
    env WHARF_LISTEN="127.0.0.1:$port" WHARF_REDIS_URL="redis://127.0.0.1:$W_REDIS_PORT/0" \
      WHARF_PUBLIC_URL="$PUBLIC_BASE_URL" WHARF_ADMIN_TOKEN="$WHARF_ADMIN" \
      WHARF_MASTER_KEY="$(openssl rand -base64 32)" \
      "$WHARF_BIN" serve --role gateway >"$RUN/wharf.log" 2>&1 &
    main=$!
    T_RPID[$t]=$W_REDIS_PID
    T_RPORT[$t]=$W_REDIS_PORT
    ;;
  node-full | node-noredis | node-floor)
    if [ "$t" = node-full ]; then
      [ -n "$REDIS_PID" ] || redis_start
      T_RPID[$t]=$REDIS_PID
      T_RPORT[$t]=$REDIS_PORT
    fi
    (cd "$WORK/node-ingest" && exec env MODE="${t#node-}" PORT="$port" HUBSPOT_CLIENT_SECRET="$SECRET" \
      PUBLIC_BASE_URL="$PUBLIC_BASE_URL" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" STREAM="$STREAM" \
      node server.js) >"$RUN/$t.log" 2>&1 &
    main=$!
    ;;
  nginx-floor)
    # the copy's config, on a free port instead of the fixed 18085
    sed -i "s/listen 127\.0\.0\.1:[0-9]*/listen 127.0.0.1:$port/" "$WORK/nginx/floor.conf"
    nginx -p "$WORK/" -e stderr -c nginx/floor.conf >"$RUN/$t.log" 2>&1 &
    main=$!
    ;;
  esac
  MY_PIDS+=("$main")
  wait_port "$port"
  case $t in
  node-*) # both cluster workers
    for _ in $(seq 1 50); do
      [ "$(pgrep -P "$main" | wc -l)" -ge 2 ] && break
      sleep 0.1
    done
    ;;
  wharf)
    for _ in $(seq 1 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
      sleep 0.1
    done
    wharf_setup "http://127.0.0.1:$port"
    ;;
  esac
  sleep 1
  T_URL[$t]=http://127.0.0.1:$port$SIGNED_PATH
  T_PIDS[$t]="$main $(pgrep -P "$main" | tr '\n' ' ' || true)"
}

# the environment and the HubSpot connection the signed body is for (no subscription: ingest only)
wharf_setup() {
  local base=$1 out code token
  out=$RUN/api.out
  code=$(curl -sS -o "$out" -w '%{http_code}' -X POST "$base/v1/environments" \
    -H "Authorization: Bearer $WHARF_ADMIN" -H 'Content-Type: application/json' \
    --data-binary '{"name":"bench","kind":"production"}')
  [ "$code" = 201 ] || { log "wharf: POST /v1/environments -> $code $(cat "$out")"; exit 1; }
  token=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).apiToken)' "$out")
  code=$(curl -sS -o "$out" -w '%{http_code}' -X POST "$base/v1/connections" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary '{"integrationId":"hubspot","externalAccountId":"'"$PORTAL_ID"'","credentials":{"clientSecret":"'"$SECRET"'"},"sync":{"objects":{"contacts":true,"deals":true}}}')
  [ "$code" = 201 ] || { log "wharf: POST /v1/connections -> $code $(cat "$out")"; exit 1; }
  log "wharf: HubSpot connection for portal $PORTAL_ID: $(cat "$out")"
}

# redis keys a target writes; emptied (and the AOF compacted) before every run
target_keys() {
  case $1 in
  node-full) echo "$STREAM" ;;
  # queue partitions, and the day's dedupe sets: every run starts from an empty queue
  wharf) echo "${W_STREAMS[*]}" "$(wcli --scan --pattern 'wh:dd:*' | tr '\n' ' ')" ;;
  esac
}
# Events queued in the target's stream(s). node-full writes one entry per event.
# wharf writes one entry per accepted request and connection, whose field "b" is
# a msgpack array of that request's new events (queue/keys.h, queue/scripts/
# ingest.lua): its array header says how many, so redis counts them in Lua
# rather than us shipping every entry out.
W_COUNT_LUA='local n = 0
for _, k in ipairs(KEYS) do
  local last = "-"
  while true do
    local r = redis.call("XRANGE", k, last, "+", "COUNT", 1000)
    if #r == 0 then break end
    for _, e in ipairs(r) do
      local f = e[2]
      for i = 1, #f, 2 do
        if f[i] == "b" then
          local b = string.byte(f[i + 1], 1)
          if b >= 0x90 and b <= 0x9f then n = n + b - 0x90
          elseif b == 0xdc then n = n + string.byte(f[i + 1], 2) * 256 + string.byte(f[i + 1], 3)
          else return -1 end
        end
      end
    end
    last = "(" .. r[#r][1]
  end
end
return n'
stream_len() {
  case $1 in
  node-full) rcli XLEN "$STREAM" ;;
  wharf) wcli EVAL "$W_COUNT_LUA" "${#W_STREAMS[@]}" "${W_STREAMS[@]}" ;;
  esac
}
# Zero loss, per run: every acknowledged event is in the stream. wrk stops with
# up to CONNS requests in flight that may have been queued but not counted, hence
# the upper bound. wharf deduplicates provider redeliveries (design §3) and
# body.json's event ids are the same in every request, so with dedupe each run
# must queue each of its distinct events exactly once, however often acknowledged.
loss_check() { # target test delta responses -> ok… | FAIL…
  local t=$1 test=$2 d=$3 r=$4
  if ((d >= BODY_EVENTS * r && d <= BODY_EVENTS * (r + CONNS))); then
    echo "ok: all $((BODY_EVENTS * r)) acknowledged events queued"
  elif [ "$t" = wharf ] && [ "$test" != distinct ] && ((d == BODY_EVENTS)); then
    echo "ok: deduplicated, the $BODY_EVENTS distinct events queued once for $r acknowledgements"
  else
    echo "FAIL: $d events queued for $r acknowledged requests of $BODY_EVENTS events"
  fi
}
uses_redis() { [ "$1" = wharf ] || [ "$1" = node-full ]; }

code_of() { # extra curl args -> HTTP status of one POST of the body
  curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' "$@" --data-binary "@$BODY" "$URL"
}
check() { # $1 description, $2 expected, $3 got
  local verdict=PASS
  [ "$2" = "$3" ] || verdict=FAIL
  [ "$verdict" = PASS ] || CHECK_FAILS=$((CHECK_FAILS + 1))
  printf '%s\t%s: %s (expected %s, got %s)\n' "$T" "$verdict" "$1" "$2" "$3" | tee -a "$CHECKS" >&2
}
CHECK_FAILS=0
run_checks() {
  local t=$1 stale n0 n1
  URL=${T_URL[$t]}
  T=$t
  sign_now
  case $t in
  wharf | node-full | node-noredis)
    check "valid v3 signature" 202 "$(code_of -H "$HDR1" -H "$HDR2")"
    check "signature made with another secret" 401 "$(code_of -H "X-HubSpot-Signature-v3: $(sign_v3 "$TS" wrong-secret)" -H "$HDR2")"
    check "signature for another timestamp" 401 "$(code_of -H "$HDR1" -H "X-HubSpot-Request-Timestamp: $((TS + 1))")"
    stale=$((TS - 301000))
    check "correctly signed, timestamp 5 min 1 s old" 401 \
      "$(code_of -H "X-HubSpot-Signature-v3: $(sign_v3 "$stale" "$SECRET")" -H "X-HubSpot-Request-Timestamp: $stale")"
    check "no signature headers" 401 "$(code_of)"
    ;;
  *) check "any POST" 202 "$(code_of -H "$HDR1" -H "$HDR2")" ;;
  esac
  if uses_redis "$t"; then
    # one freshly signed request on an empty queue: how many stream entries does it make?
    # shellcheck disable=SC2046
    REDIS_PORT=${T_RPORT[$t]} redis_reset $(target_keys "$t")
    sign_now
    n0=$(stream_len "$t")
    code_of -H "$HDR1" -H "$HDR2" >/dev/null
    sleep 0.2
    n1=$(stream_len "$t")
    PER_REQ[$t]=$((n1 - n0))
    log "$t: one accepted request queues $((n1 - n0)) events"
    if [ "$t" = wharf ]; then
      wcli --scan --pattern 'wh:q:*' | head -1 | xargs -r -I{} redis-cli -p "$W_REDIS_PORT" XRANGE {} - + COUNT 1 \
        >"$OUT/wharf-sample-entry.txt" 2>&1 || true
    fi
  fi
}
declare -A PER_REQ

# --- one measurement (run-ingest.sh's measure(), per target) ---------------------------
to_ms() { # wrk latency value (e.g. 812.00us, 3.41ms, 1.02s) -> ms
  awk -v v="$1" 'BEGIN{
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else print "-" }'
}
kv() { sed -n 's/.*[ ^]'"$1"'=\([^ ]*\).*/\1/p' "$2" | tail -1; } # RESULT key=value

printf 'target\ttest\trun\treq_s\tp50_ms\tp99_ms\tsrv_rss_kb\tredis_rss_kb\tsrv_cpu_us_req\tredis_cpu_us_req\tclient_cpu_pct\tforeign_cpu_pct\tbad\tdrain_ms\twork_s\tevents_queued\tresponses\tzero_loss\tnote\n' >"$RUNS_TSV"

# Pre-signed distinct requests for the "distinct" loop: enough for the fastest
# Redis-writing target's closed-loop rate (+30 %) so wrk never wraps around to
# repeats, rewritten when older than 150 s (HubSpot's window is 5 minutes).
REQS=
REQS_AT=0
distinct_fresh() { [ -n "$REQS" ] && (($(date +%s) - REQS_AT <= 150)); }
distinct_prepare() {
  local cap=0 t c count
  distinct_fresh && return 0
  for t in "${TARGETS[@]}"; do
    uses_redis "$t" || continue
    c=${CAP[$t]:-0}
    c=${c%.*}
    ((c > cap)) && cap=$c
  done
  ((cap > 0)) || cap=50000
  count=$((cap * DUR * 13 / 10 + 10000))
  REQS=$WORK/distinct.reqs
  node "$ROOT/bench/unique/gen.js" "$count" "$SECRET" "$PUBLIC_BASE_URL" "$BODY" "$REQS" "$SIGNED_PATH" || {
    log "bench/unique/gen.js failed"
    exit 1
  }
  REQS_AT=$(date +%s)
  log "wrote $count distinct signed requests ($(du -m "$REQS" | cut -f1) MiB)"
}

# $1 target, $2 test: wrk | distinct | warmup | rate, $3 run number
measure() {
  local test=$2 run=$3 attempt raw flag rs rr lp c0 c1 r0 r1 k0 k1 w0 w1 n0 n1 drain wl rpid
  local rps p50 p99 reqs bad note wall work srv_us redis_us client_pct other_pct srss rrss delta loss
  T=$1
  URL=${T_URL[$T]}
  read -r -a SRV_PIDS <<<"${T_PIDS[$T]}"
  rpid=${T_RPID[$T]:-}
  for attempt in $(seq 1 "$MAX_ATTEMPTS"); do
    if [ "$test" = distinct ]; then
      # generating is CPU work: done before the wait for an idle box, and redone if that wait was long
      until distinct_prepare && wait_quiet && distinct_fresh; do :; done
    else
      wait_quiet
    fi
    # shellcheck disable=SC2046
    uses_redis "$T" && REDIS_PORT=${T_RPORT[$T]} redis_reset $(target_keys "$T")
    sign_now
    raw=$OUT/raw/$T.$test.$run.txt
    flag=$RUN/foreign.flag
    n0=0
    uses_redis "$T" && n0=$(stream_len "$T")
    rss_start "$RUN/rss.srv" "${SRV_PIDS[@]}"
    rs=$LAST_BG
    rr=
    if [ -n "$rpid" ]; then rss_start "$RUN/rss.redis" "$rpid"; rr=$LAST_BG; fi
    watch_start "$flag"
    c0=$(ticks "${SRV_PIDS[@]}")
    r0=$(ticks ${rpid:+"$rpid"})
    proc_snapshot "$RUN/ps0"
    w0=$(date +%s%N)
    child_ticks k0
    case $test in
    wrk | warmup)
      local d=$DUR
      [ "$test" = warmup ] && d=$WARM_S
      env BODY_FILE="$BODY" HDR1="$HDR1" HDR2="$HDR2" HDR3="$HDR3" \
        wrk -t1 -c"$CONNS" -d"${d}s" --latency -s "$WORK/wrk/post.lua" "$URL" >"$raw" 2>&1 &
      ;;
    distinct)
      env REQUESTS_FILE="$REQS" \
        wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$ROOT/bench/unique/rotate.lua" "$URL" >"$raw" 2>&1 &
      ;;
    *)
      "$WORK/tools/openloop" -u "$URL" -r "$test" -d "$DUR" -w 1 -c "$CONNS" -b "$BODY" -s 202 \
        -H 'Content-Type: application/json' -H "$HDR1" -H "$HDR2" -H "$HDR3" >"$raw" 2>&1 &
      ;;
    esac
    lp=$!
    wait "$lp" || true
    child_ticks k1
    wl=$(date +%s%N)
    wait_idle drain "${SRV_PIDS[@]}" ${rpid:+"$rpid"}
    w1=$(date +%s%N)
    proc_snapshot "$RUN/ps1"
    c1=$(ticks "${SRV_PIDS[@]}")
    r1=$(ticks ${rpid:+"$rpid"})
    watch_stop
    # shellcheck disable=SC2086
    bg_stop $rs $rr
    srss=$(cat "$RUN/rss.srv")
    rrss=-
    [ -n "$rr" ] && rrss=$(cat "$RUN/rss.redis")
    if [ "$test" = warmup ]; then return 0; fi
    note=
    other_pct=$(awk -v t="$(foreign_ticks "$RUN/ps0" "$RUN/ps1")" -v w=$(((w1 - w0) / 1000000)) -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz * 1e5 / w}')
    if [ -s "$flag" ]; then note="foreign load generator (pids $(sort -u "$flag" | tr '\n' ' '))"; fi
    if ((other_pct > MAX_OTHER_PCT)); then note="${note:+$note; }foreign CPU ${other_pct}% of a core"; fi
    if [ -n "$note" ] && ((attempt < MAX_ATTEMPTS)); then
      log "$T $test #$run: $note, retrying"
      continue
    fi
    break
  done
  if [ "$test" = wrk ] || [ "$test" = distinct ]; then
    rps=$(awk '/^Requests\/sec:/{print $2}' "$raw")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$raw")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$raw")")
    reqs=$(awk '/requests in/{print $1}' "$raw")
    bad=$(awk '/Non-2xx or 3xx responses:/{s+=$NF} /Socket errors:/{gsub(",", ""); s+=$4+$6+$8+$10} END{print s+0}' "$raw")
  else
    rps=$(kv achieved "$raw")
    p50=$(awk -v v="$(kv p50 "$raw")" 'BEGIN{printf "%.3f", v/1000}')
    p99=$(awk -v v="$(kv p99 "$raw")" 'BEGIN{printf "%.3f", v/1000}')
    reqs=$(kv "done" "$raw")
    bad=$(($(kv bad_status "$raw") + $(kv errors "$raw") + $(kv incomplete "$raw")))
  fi
  wall=$(((w1 - w0) / 1000000))
  srv_us=$(awk -v t=$((c1 - c0)) -v n="$reqs" -v hz="$HZ" 'BEGIN{printf "%.1f", n ? t / hz * 1e6 / n : 0}')
  redis_us=-
  [ -n "$rpid" ] && redis_us=$(awk -v t=$((r1 - r0)) -v n="$reqs" -v hz="$HZ" 'BEGIN{printf "%.1f", n ? t / hz * 1e6 / n : 0}')
  client_pct=$(awk -v t=$((k1 - k0)) -v w=$(((wl - w0) / 1000000)) -v hz="$HZ" 'BEGIN{printf "%.0f", t / hz * 1e5 / w}')
  delta=-
  loss=-
  if uses_redis "$T"; then
    sleep 0.3
    n1=$(stream_len "$T")
    delta=$((n1 - n0))
    loss=$(loss_check "$T" "$test" "$delta" "$reqs")
    note="${note:+$note; }$delta events queued for $reqs responses: zero loss $loss"
  fi
  work=$(awk -v n="$reqs" -v w=$(((wl - w0) / 1000000 + drain)) 'BEGIN{printf "%.0f", n * 1000 / w}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$T" "$test" "$run" "$rps" "$p50" "$p99" \
    "$srss" "$rrss" "$srv_us" "$redis_us" "$client_pct" "$other_pct" "$bad" "$drain" "$work" "$delta" "$reqs" "${loss%%:*}" "$note" >>"$RUNS_TSV"
  log "$T $test #$run: $rps req/s p50 ${p50}ms p99 ${p99}ms rss ${srss}KiB srv ${srv_us}us/req client ${client_pct}% bad $bad ${note} (wall ${wall}ms)"
}

# --- main: start everything, then interleave ---------------------------------------------
for T in "${TARGETS[@]}"; do
  log "== starting $T"
  start_target "$T"
  run_checks "$T"
done
if ((CHECK_FAILS > 0)); then
  log "$CHECK_FAILS correctness check(s) failed (see above and $CHECKS): not measuring"
  exit 1
fi
for T in "${TARGETS[@]}"; do
  log "$T: ${WARM_S}s warm-up"
  measure "$T" warmup 0
done
for run in $(seq 1 "$RUNS"); do
  for T in "${TARGETS[@]}"; do measure "$T" wrk "$run"; done
done
# a fixed rate above 90% of a target's closed-loop capacity is skipped, as in run-ingest.sh
declare -A CAP
for T in "${TARGETS[@]}"; do
  # shellcheck disable=SC2046
  CAP[$T]=$(median $(awk -F'\t' -v t="$T" '$1==t && $2=="wrk"{print ($15 + 0 < $4 + 0) ? $15 : $4}' "$RUNS_TSV"))
done
if [ "${DISTINCT:-1}" = 1 ]; then
  for run in $(seq 1 "$RUNS"); do
    for T in "${TARGETS[@]}"; do measure "$T" distinct "$run"; done
  done
  rm -f "$REQS"
fi
for rate in $RATES; do
  for run in $(seq 1 "$RUNS"); do
    for T in "${TARGETS[@]}"; do
      if awk -v r="$rate" -v c="${CAP[$T]}" 'BEGIN{exit !(r > 0.9 * c)}'; then
        if [ "$run" = 1 ]; then
          log "$T: skipping fixed rate $rate (over 90% of its closed-loop capacity ${CAP[$T]})"
          printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\tskipped: above 90%% of closed-loop capacity (%s req/s)\n' \
            "$T" "$rate" "${CAP[$T]}" >>"$RUNS_TSV"
        fi
        continue
      fi
      measure "$T" "$rate" "$run"
    done
  done
done

# --- report ---------------------------------------------------------------------------------
# medians per target and test (as run-ingest.sh's medians.tsv), then the table, ratios and targets
awk -F'\t' 'NR==1{next} $3=="-"{next} {k=$1"\t"$2; keys[k]=1; n[k]++; for(i=4;i<=17;i++) v[k,i,n[k]]=$i}
  END{ print "target\ttest\truns\treq_s\tp50_ms\tp99_ms\tsrv_rss_kb\tredis_rss_kb\tsrv_cpu_us_req\tredis_cpu_us_req\tclient_cpu_pct\tforeign_cpu_pct\tbad\tdrain_ms\twork_s\tevents_queued\tresponses"
       for (k in keys) { line=k"\t"n[k]
         for(i=4;i<=17;i++){ m=n[k]; delete a; c=0; for(j=1;j<=m;j++){ if (v[k,i,j] != "-") a[++c]=v[k,i,j]+0 }
           if (c==0) { line=line"\t-"; continue }
           for(x=1;x<=c;x++) for(y=x+1;y<=c;y++) if (a[y]<a[x]) { t=a[x]; a[x]=a[y]; a[y]=t }
           line=line"\t"a[int((c+1)/2)] }
         print line } }' "$RUNS_TSV" | (read -r h; echo "$h"; sort) >"$OUT/medians.tsv"

report() {
  awk -F'\t' -v targets="${TARGETS[*]}" -v rates="$RATES" -v runs="$RUNS" -v dur="$DUR" \
    -v per_wharf="${PER_REQ[wharf]:-}" -v body_events="$BODY_EVENTS" '
    function med(arr, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
                                      return n ? arr[int((n + 1) / 2)] : "" }
    function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
    NR == 1 { next }
    $3 == "-" { skipped[$1, $2] = 1; next }
    {
      t = $1; test = $2
      if ($7 != "-" && $7 + 0 > rss[t]) rss[t] = $7 + 0
      bad[t] += $13
      if ($16 != "-") { sd[t] += $16; resp[t] += $17; nl[t]++; if ($18 == "ok") okl[t]++ }
      if (test == "wrk") { nw[t]++; rps[t, nw[t]] = $4 + 0; p50[t, nw[t]] = $5 + 0; p99[t, nw[t]] = $6 + 0 }
      else if (test == "distinct") { nd[t]++; drps[t, nd[t]] = $4 + 0; dp99[t, nd[t]] = $6 + 0 }
      else { nr[t, test]++; rp99[t, test, nr[t, test]] = $6 + 0; ach[t, test, nr[t, test]] = $4 + 0 }
    }
    END {
      nt = split(targets, T, " "); nrt = split(rates, R, " ")
      hdr = "| target | closed loop, body.json repeated: req/s median (min–max) | p50 ms | p99 ms | closed loop, distinct events: req/s (min–max) | p99 ms |"
      sep = "|---|---|---|---|---|---|"
      for (i = 1; i <= nrt; i++) { hdr = hdr " p99 ms @ " R[i] "/s |"; sep = sep "---|" }
      hdr = hdr " peak RSS MiB | non-2xx/errors | events queued / responses |"; sep = sep "---|---|---|"
      print "Ingest: " runs " run(s) of " dur " s per test, medians; fixed-rate latency from the intended send time (openloop)."
      print ""; print hdr; print sep
      for (i = 1; i <= nt; i++) {
        t = T[i]; n = nw[t]; mn = ""; mx = ""
        for (j = 1; j <= n; j++) { a[j] = rps[t, j]; b[j] = p50[t, j]; c[j] = p99[t, j]
          if (mn == "" || a[j] < mn) mn = a[j]; if (mx == "" || a[j] > mx) mx = a[j] }
        m = med(a, n); M[t] = m
        line = sprintf("| %s | %s (%s–%s) | %s | %s |", t, fmt(m, 0), fmt(mn, 0), fmt(mx, 0), fmt(med(b, n), 3), fmt(med(c, n), 3))
        n = nd[t]; mn = ""; mx = ""
        for (j = 1; j <= n; j++) { a[j] = drps[t, j]; c[j] = dp99[t, j]
          if (mn == "" || a[j] < mn) mn = a[j]; if (mx == "" || a[j] > mx) mx = a[j] }
        if (n) { D[t] = med(a, n); line = line sprintf(" %s (%s–%s) | %s |", fmt(D[t], 0), fmt(mn, 0), fmt(mx, 0), fmt(med(c, n), 3)) }
        else line = line " – | – |"
        for (k = 1; k <= nrt; k++) {
          r = R[k]; q = nr[t, r]
          if (skipped[t, r]) { line = line " skipped |"; continue }
          for (j = 1; j <= q; j++) { d[j] = rp99[t, r, j]; e[j] = ach[t, r, j] }
          v = med(d, q); FR[t, r] = v
          line = line " " fmt(v, 3) (q && med(e, q) < 0.98 * r ? " (achieved " fmt(med(e, q), 0) "/s)" : "") " |"
        }
        RSS[t] = rss[t] / 1024
        line = line " " fmt(RSS[t], 1) " | " bad[t] + 0 " | " (t in sd ? sd[t] " / " resp[t] : "–") " |"
        print line
      }
      print ""
      if (("wharf" in M) && M["wharf"] > 0) {
        # the targets are judged on distinct events (what ingestion costs) when that loop ran
        for (pi = 1; pi <= 2; pi++) {
          peer = pi == 1 ? "node-full" : "nginx-floor"; goal = pi == 1 ? 3.5 : 0.7
          if (!(peer in M)) continue
          if (("wharf" in D) && (peer in D)) {
            x = D["wharf"] / D[peer]
            printf "wharf / %-11s closed-loop req/s, distinct events: %.2fx  (target >= %.1fx: %s); body.json repeated: %.2fx\n", peer, x, goal, (x >= goal ? "met" : "NOT met"), M["wharf"] / M[peer]
          } else {
            x = M["wharf"] / M[peer]
            printf "wharf / %-11s closed-loop req/s, body.json repeated: %.2fx  (target >= %.1fx: %s; wharf answers these as redeliveries)\n", peer, x, goal, (x >= goal ? "met" : "NOT met")
          }
        }
        if (("wharf", 10000) in FR) printf "wharf p99 at 10,000 req/s fixed rate: %.3f ms  (target <= 2 ms: %s; openloop resends body.json: redelivery path)\n", FR["wharf", 10000], (FR["wharf", 10000] <= 2 ? "met" : "NOT met")
        else print "wharf p99 at 10,000 req/s fixed rate: not measured (RATES has no 10000)  (target <= 2 ms: not measured)"
        printf "wharf peak RSS: %.1f MiB  (target <= 30 MiB: %s)\n", RSS["wharf"], (RSS["wharf"] <= 30 ? "met" : "NOT met")
      }
      for (i = 1; i <= nt; i++) {
        t = T[i]
        if (!(t in nl)) continue
        printf "zero-loss check %-11s %d/%d runs ok (summed over the runs: %d events queued for %d acknowledged requests of %d events", t ":", okl[t], nl[t], sd[t], resp[t], body_events
        if (t == "wharf" && sd[t] < resp[t]) printf "; body.json runs: the same %d event ids every time, queued once per run (one lone request queued %s)", body_events, per_wharf
        print ")"
      }
    }' "$RUNS_TSV"
}
report | tee "$OUT/summary.md"
log "done: $OUT"
