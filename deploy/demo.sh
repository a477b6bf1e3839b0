#!/usr/bin/env bash
# README command 1: from a fresh Debian 12 machine to a running wharf demo.
#
# usage: deploy/demo.sh [--detach]     build, start, wire up, send one test webhook,
#                                      then follow the sink until Ctrl-C (which stops
#                                      everything), or return at once with --detach
#        deploy/demo.sh stop           stop wharf, the demo sink and the private redis
#
# What it starts (state, logs and pidfiles under .wharf/, git-ignored):
#   redis-server  private, 127.0.0.1, AOF on (appendfsync everysec), data in .wharf/redis/;
#                 reused across runs; skipped when WHARF_REDIS_URL is set
#   demo sink     deploy/demo-sink.py on a free port: prints every delivery it gets
#   wharf serve   127.0.0.1:${WHARF_PORT:-8080}, all roles in one process
# and, through the management API, a development environment, a HubSpot
# connection (portal 62515) and a subscription of the sink to every event type.
# Secrets are generated once and kept in .wharf/demo.env (mode 600).
# environment: WHARF_PORT (8080), WHARF_REDIS_URL, WHARF_REDIS_PORT (a free one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

STATE=$ROOT/.wharf
ENV_FILE=$STATE/demo.env
WHARF_PIDF=$STATE/wharf.pid
WHARF_LOGF=$STATE/wharf.log
SINK_PIDF=$STATE/sink.pid
SINK_LOG=$STATE/sink.log
SINK_SECRET=$STATE/sink.secret
REDIS_DIR=$STATE/redis
REDIS_PIDF=$REDIS_DIR/redis.pid
REDIS_PORTF=$REDIS_DIR/port
PORTAL_ID=62515
PORT=${WHARF_PORT:-8080}
BASE=http://127.0.0.1:$PORT

say() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

# --- processes, by pidfile ------------------------------------------------------
# pid in $1 if that process is alive and its command line names $2: a stale
# pidfile whose pid was reused by something else is never trusted.
live_pid() {
  local pid
  [ -r "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}
# SIGTERM (graceful: wharf finishes in-flight work, redis flushes its AOF), KILL after $3 s
stop_pidfile() { # PIDFILE NAME TIMEOUT
  local pid i
  if pid=$(live_pid "$1" "$2"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $3 * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: $2 (pid $pid) ignored SIGTERM for $3 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}
stop_app() { # wharf and the sink; the private redis stays for the next run
  stop_pidfile "$WHARF_PIDF" build/wharf 20
  stop_pidfile "$SINK_PIDF" demo-sink.py 5
}
stop_all() {
  stop_app
  stop_pidfile "$REDIS_PIDF" redis-server 20
}

# --- small tools -----------------------------------------------------------------
port_free() { python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# value of KEY in the env file (only for the plain token/id values this script writes)
env_get() { { sed -n "s/^$1=//p" "$ENV_FILE" 2>/dev/null || true; } | tail -1; }
env_set() { # KEY VALUE: replaces or appends one line, keeping the file private
  local tmp
  tmp=$(umask 077 && mktemp "$STATE/demo.env.XXXXXX")
  # %q keeps the file safe to source; an empty value stays empty (not '')
  { grep -v "^$1=" "$ENV_FILE" 2>/dev/null || true; if [ -n "$2" ]; then printf '%s=%q\n' "$1" "$2"; else echo "$1="; fi; } >"$tmp"
  mv "$tmp" "$ENV_FILE"
}
# until CMD succeeds or TIMEOUT s pass; fails early if PIDFILE's process (named NAME) died
wait_for() { # WHAT TIMEOUT PIDFILE NAME CMD...
  local what=$1 timeout=$2 pidf=$3 name=$4 i
  shift 4
  for ((i = 0; i < timeout * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "$pidf" ] && ! live_pid "$pidf" "$name" >/dev/null; then
      die "$what: $name exited during startup"
    fi
    sleep 0.1
  done
  die "$what: not ready after $timeout s"
}

# api METHOD PATH TOKEN [JSON]: sets API_CODE and API_BODY
api() {
  local args=(-sS -o "$STATE/api.out" -w '%{http_code}' -X "$1" "$BASE$2" -H "Authorization: Bearer $3")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  API_CODE=$(curl "${args[@]}") || API_CODE=000
  API_BODY=$(cat "$STATE/api.out" 2>/dev/null || true)
}
expect() { [ "$API_CODE" = "$1" ] || die "$2: expected HTTP $1, got $API_CODE: $API_BODY"; }
# FIELD of the JSON object in API_BODY (python3: no jq needed)
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$API_BODY" "$1"; }

# --- stop ------------------------------------------------------------------------
if [ "${1:-}" = stop ]; then
  stop_all
  exit 0
fi
DETACH=0
case ${1:-} in
--detach) DETACH=1 ;;
"") ;;
*) die "usage: deploy/demo.sh [--detach] | deploy/demo.sh stop" ;;
esac

# What this run started is stopped again if it fails before the demo is up;
# once up, Ctrl-C (foreground) stops everything.
STARTED_REDIS=0
STARTED_SINK=0
STARTED_WHARF=0
UP=0
on_exit() {
  local rc=$?
  if [ "$UP" = 0 ]; then
    if [ "$STARTED_WHARF" = 1 ]; then
      [ "$rc" -eq 0 ] || { echo "--- last lines of $WHARF_LOGF:" >&2; tail -n 20 "$WHARF_LOGF" >&2; }
      stop_pidfile "$WHARF_PIDF" build/wharf 20 >/dev/null
    fi
    [ "$STARTED_SINK" = 0 ] || stop_pidfile "$SINK_PIDF" demo-sink.py 5 >/dev/null
    [ "$STARTED_REDIS" = 0 ] || stop_pidfile "$REDIS_PIDF" redis-server 20 >/dev/null
  fi
  rm -f "$STATE/api.out" # holds tokens
  exit "$rc"
}
trap on_exit EXIT

say "dependencies"
deploy/deps.sh demo

say "build (Release)"
# -Werror is for CI (deploy/test.sh): a new compiler warning must not keep the demo from running
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DWHARF_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)"

mkdir -p "$STATE" "$REDIS_DIR"
chmod 700 "$STATE"
# a rebuilt binary must not be shadowed by the previous run's process
stop_app >/dev/null
# checked before anything starts, so a busy port costs nothing to fix
port_free "$PORT" || die "port $PORT is in use by another program: set WHARF_PORT to a free port"

# --- redis --------------------------------------------------------------------------
if [ -n "${WHARF_REDIS_URL:-}" ]; then
  REDIS_URL=$WHARF_REDIS_URL
  say "redis: using WHARF_REDIS_URL"
elif pid=$(live_pid "$REDIS_PIDF" redis-server) && rport=$(cat "$REDIS_PORTF" 2>/dev/null) &&
  [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; then
  REDIS_URL=redis://127.0.0.1:$rport/0
  say "redis: reusing the private redis-server (pid $pid, port $rport)"
else
  rport=${WHARF_REDIS_PORT:-$(cat "$REDIS_PORTF" 2>/dev/null || true)}
  if [ -z "$rport" ] || ! port_free "$rport"; then
    [ -n "${WHARF_REDIS_PORT:-}" ] && die "WHARF_REDIS_PORT=$WHARF_REDIS_PORT is in use"
    rport=$(free_port)
  fi
  # AOF everysec: an acknowledged webhook survives a redis crash (design §8); no RDB snapshots
  redis-server --bind 127.0.0.1 --port "$rport" --daemonize yes --pidfile "$REDIS_PIDF" \
    --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --save ''
  STARTED_REDIS=1
  echo "$rport" >"$REDIS_PORTF"
  wait_for "redis" 10 "" "" sh -c "[ \"\$(redis-cli -p $rport ping)\" = PONG ]"
  REDIS_URL=redis://127.0.0.1:$rport/0
  say "redis: started a private redis-server on port $rport (data in .wharf/redis/)"
fi

# --- secrets, generated once -------------------------------------------------------------
if [ ! -s "$ENV_FILE" ]; then
  (
    umask 077
    {
      echo "# deploy/demo.sh: the demo's secrets and ids. Private (mode 600); git-ignored."
      printf 'WHARF_ADMIN_TOKEN=%s\n' "$(openssl rand -hex 24)"
      printf 'WHARF_MASTER_KEY=%s\n' "$(openssl rand -base64 32)"
      printf 'WHARF_DEMO_HUBSPOT_SECRET=%s\n' "$(openssl rand -hex 18)"
      printf 'WHARF_DEMO_PORTAL_ID=%s\n' "$PORTAL_ID"
    } >"$ENV_FILE"
  )
fi
chmod 600 "$ENV_FILE"
ADMIN_TOKEN=$(env_get WHARF_ADMIN_TOKEN)
MASTER_KEY=$(env_get WHARF_MASTER_KEY)
HUBSPOT_SECRET=$(env_get WHARF_DEMO_HUBSPOT_SECRET)
env_set WHARF_PUBLIC_URL "$BASE"

# --- demo sink ------------------------------------------------------------------------
sport=$(env_get WHARF_DEMO_SINK_PORT)
# the previous port keeps the existing subscription valid
if [ -z "$sport" ] || ! port_free "$sport"; then sport=$(free_port); fi
: >"$SINK_LOG"
setsid python3 "$ROOT/deploy/demo-sink.py" --port "$sport" --secret-file "$SINK_SECRET" --pidfile "$SINK_PIDF" \
  >>"$SINK_LOG" 2>&1 </dev/null &
echo $! >"$SINK_PIDF"
STARTED_SINK=1
SINK_URL=http://127.0.0.1:$sport/
wait_for "demo sink" 10 "$SINK_PIDF" demo-sink.py curl -fsS -o /dev/null "$SINK_URL"
env_set WHARF_DEMO_SINK_PORT "$sport"
say "demo sink: $SINK_URL (log: .wharf/sink.log)"

# --- wharf ------------------------------------------------------------------------------
# setsid: wharf and the sink live in their own session, so they outlive --detach
# and a closed terminal; they are stopped by pidfile only.
setsid env WHARF_LISTEN="127.0.0.1:$PORT" WHARF_PUBLIC_URL="$BASE" WHARF_REDIS_URL="$REDIS_URL" \
  WHARF_ADMIN_TOKEN="$ADMIN_TOKEN" WHARF_MASTER_KEY="$MASTER_KEY" \
  WHARF_ALLOW_PRIVATE_DESTINATIONS=1 "$ROOT/build/wharf" serve >>"$WHARF_LOGF" 2>&1 </dev/null &
echo $! >"$WHARF_PIDF"
STARTED_WHARF=1
wait_for "wharf /readyz" 30 "$WHARF_PIDF" build/wharf curl -fsS -o /dev/null "$BASE/readyz"
say "wharf: $BASE (pid $(cat "$WHARF_PIDF"), log: .wharf/wharf.log)"

# --- environment, connection, subscription (reused while redis keeps them) -----------------
ENV_TOKEN=$(env_get WHARF_ENV_API_TOKEN)
if [ -n "$ENV_TOKEN" ]; then
  api GET /v1/subscriptions "$ENV_TOKEN"
  [ "$API_CODE" = 200 ] || ENV_TOKEN=
fi
if [ -z "$ENV_TOKEN" ]; then
  api POST /v1/environments "$ADMIN_TOKEN" '{"name":"demo","kind":"development"}'
  expect 201 "create environment"
  ENV_TOKEN=$(field apiToken)
  env_set WHARF_ENV_ID "$(field environmentId)"
  env_set WHARF_ENV_API_TOKEN "$ENV_TOKEN"
  env_set WHARF_CONNECTION_ID ""
  env_set WHARF_SUBSCRIPTION_ID ""
  echo "created development environment $(env_get WHARF_ENV_ID)"
fi

CONN_ID=$(env_get WHARF_CONNECTION_ID)
if [ -n "$CONN_ID" ]; then
  api GET "/v1/connections/$CONN_ID" "$ENV_TOKEN"
  [ "$API_CODE" = 200 ] || CONN_ID=
fi
if [ -z "$CONN_ID" ]; then
  api POST /v1/connections "$ENV_TOKEN" \
    '{"integrationId":"hubspot","externalAccountId":"'"$PORTAL_ID"'","credentials":{"clientSecret":"'"$HUBSPOT_SECRET"'"},"sync":{"objects":{"contacts":true,"deals":true}}}'
  expect 201 "create HubSpot connection"
  CONN_ID=$(field connectionId)
  env_set WHARF_CONNECTION_ID "$CONN_ID"
  echo "created HubSpot connection $CONN_ID (portal $PORTAL_ID)"
fi
WEBHOOK_URL=$(field webhookUrl)
[ -n "$WEBHOOK_URL" ] || WEBHOOK_URL=$BASE/webhooks/hubspot
env_set WHARF_WEBHOOK_URL "$WEBHOOK_URL"

SUB_ID=$(env_get WHARF_SUBSCRIPTION_ID)
if [ -n "$SUB_ID" ]; then
  api GET "/v1/subscriptions/$SUB_ID" "$ENV_TOKEN"
  if [ "$API_CODE" != 200 ] || [ "$(field url)" != "$SINK_URL" ] || [ ! -s "$SINK_SECRET" ]; then
    [ "$API_CODE" = 200 ] && api DELETE "/v1/subscriptions/$SUB_ID" "$ENV_TOKEN"
    SUB_ID=
  fi
fi
if [ -z "$SUB_ID" ]; then
  api POST /v1/subscriptions "$ENV_TOKEN" '{"url":"'"$SINK_URL"'","eventTypes":["*"],"description":"deploy/demo.sh sink"}'
  expect 201 "create subscription"
  SUB_ID=$(field subscriptionId)
  (umask 077 && field secret >"$SINK_SECRET")
  env_set WHARF_SUBSCRIPTION_ID "$SUB_ID"
  echo "created subscription $SUB_ID -> $SINK_URL (all event types)"
fi

# --- one signed test webhook, end to end -----------------------------------------------------
say "sending a signed HubSpot test webhook"
before=$(grep -c 'webhook-id=' "$SINK_LOG" || true)
deploy/send-test-webhook.sh "$ENV_FILE" contact.propertyChange
for ((i = 0; i < 300; i++)); do
  [ "$(grep -c 'webhook-id=' "$SINK_LOG" || true)" -gt "$before" ] && break
  sleep 0.1
done
if [ "$(grep -c 'webhook-id=' "$SINK_LOG" || true)" -gt "$before" ]; then
  sleep 0.5 # let the rest of a burst (object + system events) land
  echo "delivered to the sink:"
  grep 'webhook-id=' "$SINK_LOG" | tail -n +"$((before + 1))" | sed 's/^/  /'
else
  echo "nothing reached the sink within 30 s: see .wharf/wharf.log" >&2
  exit 1
fi

UP=1
cat <<EOF

wharf demo is running.
  admin token           $ADMIN_TOKEN
  environment API token $ENV_TOKEN
  HubSpot webhook URL   $WEBHOOK_URL   (portal $PORTAL_ID; client secret in .wharf/demo.env)
  delivery sink         $SINK_URL   (subscription $SUB_ID, every event type)
  all of it             .wharf/demo.env (mode 600; 'set -a; . .wharf/demo.env' loads it)

send another signed test webhook:
  deploy/send-test-webhook.sh .wharf/demo.env contact.creation
try the API:
  curl -s -H "Authorization: Bearer $ENV_TOKEN" $BASE/v1/connections
logs: .wharf/wharf.log (wharf, JSON lines), .wharf/sink.log (deliveries), .wharf/redis/redis.log
stop: deploy/demo.sh stop
EOF

if [ "$DETACH" = 1 ]; then
  exit 0
fi
echo
echo "following the sink (Ctrl-C stops wharf, the sink and the private redis):"
TAIL_PID=
on_interrupt() {
  [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
  echo
  stop_all
  exit 0
}
trap on_interrupt INT TERM HUP
# tail in the background so the trap runs as soon as the signal arrives
tail -n 0 -f "$SINK_LOG" &
TAIL_PID=$!
wait "$TAIL_PID"
