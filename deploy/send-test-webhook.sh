#!/usr/bin/env bash
# Sends one HubSpot webhook to wharf, signed the way HubSpot signs (v3), as a
# provider would: a JSON array with one event, a fresh event id each time (so
# wharf's redelivery dedupe never swallows it).
#
# usage: deploy/send-test-webhook.sh [ENV_FILE] [EVENT_TYPE]
#   ENV_FILE    written by deploy/demo.sh (default: .wharf/demo.env in the repo);
#               uses WHARF_PUBLIC_URL, WHARF_DEMO_HUBSPOT_SECRET, WHARF_DEMO_PORTAL_ID
#   EVENT_TYPE  HubSpot subscriptionType (default contact.propertyChange), e.g.
#               contact.creation, contact.deletion, deal.creation, deal.propertyChange,
#               company.propertyChange
# Prints wharf's answer; exits 1 unless it is 2xx.
set -euo pipefail

env_file=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.wharf/demo.env}
etype=${2:-contact.propertyChange}
if [ ! -r "$env_file" ]; then
  echo "no $env_file: run deploy/demo.sh first (or pass the env file it wrote)" >&2
  exit 2
fi
# the type goes into JSON unescaped: allow only what HubSpot's types look like
if ! [[ $etype =~ ^[A-Za-z_]+\.[A-Za-z_]+$ ]]; then
  echo "event type must look like object.action (contact.creation), got '$etype'" >&2
  exit 2
fi
# shellcheck disable=SC1090
. "$env_file"
: "${WHARF_PUBLIC_URL:?missing in $env_file}" "${WHARF_DEMO_HUBSPOT_SECRET:?missing in $env_file}"
portal=${WHARF_DEMO_PORTAL_ID:-62515}

now_ms=$(date +%s%3N)
event_id=1$(date +%s%N | cut -c4-16) # unique per call; the leading 1 keeps it a valid JSON number
object_id=$((100000 + RANDOM * 10 + RANDOM % 10))
prop=
case $etype in
*.propertyChange)
  case ${etype%%.*} in
  contact) prop=',"propertyName":"email","propertyValue":"jane.doe+'"$event_id"'@example.com"' ;;
  deal) prop=',"propertyName":"amount","propertyValue":"1200"' ;;
  company) prop=',"propertyName":"name","propertyValue":"Example Company"' ;;
  *) prop=',"propertyName":"hs_lastmodifieddate","propertyValue":"'"$now_ms"'"' ;;
  esac
  ;;
esac
body='[{"eventId":'"$event_id"',"subscriptionId":2504732,"portalId":'"$portal"',"appId":1160452,"occurredAt":'"$now_ms"',"subscriptionType":"'"$etype"'","attemptNumber":0,"objectId":'"$object_id"',"changeSource":"CRM_UI"'"$prop"'}]'

url=${WHARF_PUBLIC_URL%/}/webhooks/hubspot
ts=$(date +%s%3N)
# HubSpot v3: base64 HMAC-SHA256 over method + the full URL it called + raw body + timestamp (ms)
sig=$({ printf 'POST%s' "$url"; printf '%s' "$body"; printf '%s' "$ts"; } |
  openssl dgst -sha256 -hmac "$WHARF_DEMO_HUBSPOT_SECRET" -binary | base64 -w0)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
code=$(curl -sS -o "$out" -w '%{http_code}' -X POST "$url" \
  -H 'Content-Type: application/json' \
  -H "X-HubSpot-Signature-v3: $sig" \
  -H "X-HubSpot-Request-Timestamp: $ts" \
  --data-binary "$body") || code=000
echo "POST $url  ($etype, eventId $event_id, objectId $object_id) -> $code $(cat "$out")"
case $code in 2??) exit 0 ;; *) exit 1 ;; esac
