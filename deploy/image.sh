#!/usr/bin/env bash
# Builds wharf's container image without a Docker daemon, then smoke-tests it. On demand (it takes minutes),
# not part of deploy/test.sh.
#
# usage: deploy/image.sh [TAG]          default TAG localhost/wharf:dev
#   1. installs buildah and mmdebstrap if missing (Debian's packages)
#   2. makes the base image localhost/wharf-base:bookworm once: mmdebstrap --variant=minbase of Debian 12 from
#      the machine's own apt mirror, imported with buildah (REBASE=1 makes it again)
#   3. buildah bud of deploy/container/Containerfile (chroot isolation, vfs storage: no daemon, no overlayfs)
#   4. smoke test, in the built image's root filesystem: `wharf --version`; `wharf serve` against a private
#      redis-server on loopback answers /healthz 200 and /readyz 200 as uid 10001
# environment: STORAGE_DRIVER (vfs), KEEP=1 keeps the smoke test's container.
# Needs root (buildah with chroot isolation and vfs storage, as on this machine).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TAG=${1:-localhost/wharf:dev}
BASE=localhost/wharf-base:bookworm
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d -t wharf-image.XXXXXX)
pids=()
ctr=''
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$ctr" ] && [ "${KEEP:-0}" != 1 ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 2. the base: Debian 12 minbase from the mirror apt already uses (the only registry this machine reaches)
if [ "${REBASE:-0}" = 1 ] || ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  mirror=$(grep -rhoE '^deb(-src)? +(\[[^]]*\] +)?https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '{print $NF}' | grep -v security | head -1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(grep -rhoE '^URIs: +https?://[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  log "making $BASE: mmdebstrap minbase bookworm from $mirror"
  mmdebstrap --quiet --variant=minbase --mode=root bookworm "$work/base.tar" "$mirror"
  b=$(buildah from scratch)
  mnt=$(buildah mount "$b")
  tar -xf "$work/base.tar" -C "$mnt"
  buildah umount "$b" >/dev/null
  buildah config --env LANG=C.UTF-8 --cmd /bin/bash "$b"
  buildah commit --quiet "$b" "$BASE" >/dev/null
  buildah rm "$b" >/dev/null
fi

# 3. the image
log "building $TAG from deploy/container/Containerfile"
t0=$(date +%s)
buildah bud --quiet --isolation chroot --format docker --layers=false --build-arg "BASE=$BASE" \
  -f deploy/container/Containerfile -t "$TAG" . >/dev/null
log "built $TAG in $(($(date +%s) - t0)) s: $(buildah images --format '{{.Size}}' "$TAG" | head -1)"

# 4. smoke test in the image's own root filesystem
ctr=$(buildah from "$TAG")
version=$(buildah run --isolation chroot "$ctr" -- /usr/local/bin/wharf --version)
log "in the image: $version"
[ -n "$version" ] || { echo "image.sh: wharf --version printed nothing" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
hport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
buildah run --isolation chroot --env WHARF_LISTEN="127.0.0.1:$hport" --env WHARF_REDIS_URL="redis://127.0.0.1:$rport/0" \
  --env WHARF_INSECURE_DEV=1 --env WHARF_THREADS=1 "$ctr" -- /usr/local/bin/wharf serve >"$work/wharf.log" 2>&1 &
pids+=($!)
ok=0
for _ in $(seq 1 100); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/readyz")" = 200 ]; then ok=1 && break; fi
  sleep 0.1
done
health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/healthz" || true)
uid=$(pgrep -f "wharf serve" -n | xargs -r ps -o uid= -p | tr -d ' ' || true)
if [ "$ok" != 1 ] || [ "$health" != 200 ]; then
  echo "image.sh: smoke test failed: /readyz never 200, /healthz $health; wharf's log:" >&2
  cat "$work/wharf.log" >&2
  exit 1
fi
log "smoke test ok: /healthz 200, /readyz 200 (Redis on 127.0.0.1:$rport), wharf running as uid ${uid:-?}"
[ "${uid:-}" = 10001 ] || { echo "image.sh: wharf ran as uid '${uid:-?}', not 10001" >&2; exit 1; }
echo "$TAG"
