#!/usr/bin/env bash
# bench/json/run.sh: jansson against yajl, simdjson and jsmn on the providers' fixture bodies (issue 9; README.md).
# usage: bench/json/run.sh            REPS=5 REP_MS=100 (each cell: the median of REPS repetitions of >= REP_MS)
#        ONLY_CHECK=1 bench/json/run.sh   (correctness tables only, a few seconds)
# Installs libjsmn-dev libyajl-dev libsimdjson-dev g++ (and libjansson-dev) with apt-get when missing, builds with
# -O2 into bench/results/.bin/json, pins to CPU 1 with taskset when present, and writes
# bench/results/json-<date>/{summary.md,samples.tsv}. Reads tests/fixtures/providers/ and ../shared/bench/body.json
# in place (WHARF_SHARED_DIR overrides ../shared); nothing is copied into the repository.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
SHARED=$(cd "${WHARF_SHARED_DIR:-$ROOT/../shared}" 2>/dev/null && pwd) || {
  echo "bench/json: ../shared not found next to the repository (or set WHARF_SHARED_DIR)" >&2
  exit 2
}

need=()
for pkg in libjansson-dev libjsmn-dev libyajl-dev libsimdjson-dev g++; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bench/json: installing ${need[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

BIN=$ROOT/bench/results/.bin/json
mkdir -p "$BIN"
SRC=$ROOT/bench/json
CFLAGS="-O2 -Wall -Wextra -D_GNU_SOURCE"
gcc -std=c11 $CFLAGS -c "$SRC/bench.c" -o "$BIN/bench.o"
gcc -std=c11 $CFLAGS -c "$SRC/p_jansson.c" -o "$BIN/p_jansson.o"
gcc -std=c11 $CFLAGS -c "$SRC/p_yajl.c" -o "$BIN/p_yajl.o"
gcc -std=c11 $CFLAGS -c "$SRC/p_jsmn.c" -o "$BIN/p_jsmn.o"
g++ -std=c++17 $CFLAGS $(pkg-config --cflags simdjson) -c "$SRC/p_simdjson.cpp" -o "$BIN/p_simdjson.o"
g++ -O2 -o "$BIN/bench_json" "$BIN"/bench.o "$BIN"/p_*.o -ljansson -lyajl $(pkg-config --libs simdjson) -lm

OUT=$ROOT/bench/results/json-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then PIN=(taskset -c 1); fi
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
{
  echo "# bench/json $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- bench/json || echo ' (bench/json modified)')"
  echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); pinned: ${PIN[*]:-no}"
  echo "- jansson $(ver libjansson-dev), yajl $(ver libyajl-dev), simdjson $(ver libsimdjson-dev), jsmn $(ver libjsmn-dev); gcc $(gcc -dumpversion) -O2"
  echo "- REPS=${REPS:-5} REP_MS=${REP_MS:-100}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
} >"$OUT/summary.md"
"${PIN[@]}" "$BIN/bench_json" "$ROOT/tests/fixtures/providers" "$SHARED/bench/body.json" 3>"$OUT/samples.tsv" >>"$OUT/summary.md"
echo -e "\n- load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/summary.md"
cat "$OUT/summary.md"
echo "bench/json: wrote $OUT/summary.md" >&2
