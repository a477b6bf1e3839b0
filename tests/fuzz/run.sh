#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS, one after another.
#
# usage: tests/fuzz/run.sh SECONDS [BUILD_DIR] [TARGET...]
#   SECONDS    per target (CI's smoke gives each its share of 60; a campaign by hand: 3600)
#   BUILD_DIR  default build-fuzz/ (clang, -DWHARF_FUZZ=ON, RelWithDebInfo)
#   TARGET     fuzz_<provider> names; default every tests/fuzz/fuzz_*.c
# environment: FUZZ_CORPUS_DIR keeps the grown corpus there (<dir>/<target>/) so a
#              later campaign starts where this one stopped; default a temp dir.
#              JOBS parallel build jobs (default nproc).
# Seeds come from tests/fuzz/corpus/<provider>/ (read-only: libFuzzer writes new
# inputs into its first directory only). A crash leaves its reproducer under
# BUILD_DIR/artifacts/ and stops the run with exit status 1. The last lines are
# a table: target, seconds, executions, coverage (edges), corpus size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SECONDS_EACH=${1:?usage: tests/fuzz/run.sh SECONDS [BUILD_DIR] [TARGET...]}
BUILD=${2:-build-fuzz}
shift $(($# >= 2 ? 2 : 1))
JOBS=${JOBS:-$(nproc)}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in tests/fuzz/fuzz_*.c; do
    [ -e "$t" ] && targets+=("$(basename "$t" .c)")
  done
fi
[ ${#targets[@]} -gt 0 ] || { echo "no tests/fuzz/fuzz_*.c targets"; exit 0; }

cmake -S . -B "$BUILD" -DWHARF_FUZZ=ON -DCMAKE_C_COMPILER=clang -DWHARF_INTEGRATION=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# only the fuzz targets: wharf and the unit tests built again with clang add nothing here
cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}"

work=$(mktemp -d -t wharf-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$BUILD/artifacts"
rows=()
for name in "${targets[@]}"; do
  if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
    corpus=$FUZZ_CORPUS_DIR/$name
  else
    corpus=$work/corpus-$name
  fi
  mkdir -p "$corpus"
  seed=tests/fuzz/corpus/${name#fuzz_}
  [ -d "$seed" ] || seed=
  log=$work/$name.log
  printf -- '-- %s: %d s%s\n' "$name" "$SECONDS_EACH" "${seed:+, seeds from $seed}"
  rc=0
  # halt_on_error: a UBSan finding must fail the run, not scroll past.
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$BUILD/$name" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$name-" "$corpus" ${seed:+"$seed"} >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    echo "$name: libFuzzer exited $rc; reproducer in $BUILD/artifacts/" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  rows+=("$name $SECONDS_EACH ${execs:-?} ${cov:-?} $(find "$corpus" -type f | wc -l)")
done

printf '\n%-18s %8s %12s %8s %8s\n' target seconds execs edges corpus
for r in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-18s %8s %12s %8s %8s\n' $r
done
