#!/usr/bin/env bash
# README command 2: from a fresh Debian 12 machine to every test passed.
#
# usage: deploy/test.sh            (run from anywhere)
#   1. deps      deploy/deps.sh test
#   2. build     build/ (Release, -Werror)
#   3. ctest     unit + integration (the integration test starts its own redis-server)
#   3b. cluster  the integration suite again, each test file on its own 3-master Redis Cluster
#   4. valgrind  the integration suite again, every wharf under memcheck
#   5. asan      build-asan/ (Debian gcc, ASan+UBSan, Debug) and ctest again
#   6. fuzz      build-fuzz/ (clang, libFuzzer): every fuzz_* target for its share of 60 s
# environment: WHARF_TEST_QUICK=1 skips 4 to 6 (local iteration);
#              FUZZ_SECONDS=60 total fuzzing time.
# Stops at the first failing phase with a message naming it, exit status 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

QUICK=${WHARF_TEST_QUICK:-0}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=$(nproc)
T_START=$(date +%s%N)

PHASES=()    # "name<TAB>seconds<TAB>result", printed in the summary
CTEST_SUMS=() # ctest's closing line of each ctest run, prefixed with its build
CTEST_PASSED=0
CTEST_FAILED=0
LOGDIR=$(mktemp -d -t wharf-test.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

secs_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b - a) / 1e9}'; }
banner() { printf '\n==== %s ====\n' "$*"; }

# run_phase NAME CMD...: times CMD; on failure says which phase failed and exits.
run_phase() {
  local name=$1 t0 secs rc=0
  shift
  banner "$name"
  t0=$(date +%s%N)
  "$@" || rc=$?
  secs=$(secs_since "$t0")
  if [ $rc -eq 0 ]; then
    PHASES+=("$name"$'\t'"$secs"$'\t'"ok")
    printf -- '---- %s: ok, %s s\n' "$name" "$secs"
  else
    PHASES+=("$name"$'\t'"$secs"$'\t'"FAILED (exit $rc)")
    print_phases
    printf '\ntest.sh: phase "%s" FAILED (exit %d) after %s s; its output is above.\n' "$name" "$rc" "$secs" >&2
    exit 1
  fi
}
skip_phase() { PHASES+=("$1"$'\t'"-"$'\t'"skipped: $2"); }

print_phases() {
  local p
  printf '\n%-34s %8s  %s\n' "phase" "seconds" "result"
  for p in "${PHASES[@]}"; do
    IFS=$'\t' read -r n s r <<<"$p"
    printf '%-34s %8s  %s\n' "$n" "$s" "$r"
  done
  printf '%-34s %8s\n' "all phases" "$(secs_since "$T_START")"
}

configure_build() { # DIR cmake-args...
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j"$JOBS"
}

# ctest, with its closing summary kept for the final report (CI reads the last lines).
run_ctest() { # LABEL DIR
  local label=$1 dir=$2 log rc=0 sum n f
  log=$LOGDIR/ctest-$dir.log
  # pipefail: rc is ctest's status, not tee's
  ctest --test-dir "$dir" --output-on-failure 2>&1 | tee "$log" || rc=$?
  sum=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -z "$sum" ]; then
    echo "ctest in $dir printed no summary (no tests registered?)" >&2
    return 1
  fi
  n=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$sum")
  f=$(sed -E 's/.*, ([0-9]+) tests? failed.*/\1/' <<<"$sum")
  if [ "$n" -eq 0 ]; then
    echo "ctest in $dir ran no test" >&2
    return 1
  fi
  CTEST_SUMS+=("$label: $sum")
  CTEST_PASSED=$((CTEST_PASSED + n - f))
  CTEST_FAILED=$((CTEST_FAILED + f))
  return "$rc"
}

# Every fuzz target gets an equal share of FUZZ_SECONDS (tests/fuzz/run.sh does
# the work and prints a table; run it by hand for a longer campaign).
FUZZ_RAN=0
run_fuzz() {
  local n
  n=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | wc -l)
  [ "$n" -gt 0 ] || { echo "no tests/fuzz/fuzz_*.c targets"; return 0; }
  local share=$((FUZZ_SECONDS / n))
  [ "$share" -ge 1 ] || share=1
  JOBS=$JOBS tests/fuzz/run.sh "$share" build-fuzz || return 1
  FUZZ_RAN=$n
}

run_phase "deps" deploy/deps.sh test
run_phase "build (Release, -Werror)" configure_build build -DCMAKE_BUILD_TYPE=Release -DWHARF_WERROR=ON
run_phase "ctest (Release)" run_ctest "Release" build
# the whole integration suite once more, every test file's Redis a 3-master Redis Cluster on loopback
run_phase "integration (Redis Cluster)" env WHARF_IT_REDIS=cluster tests/integration/run.sh "$PWD/build/wharf"

if [ "$QUICK" = 1 ]; then
  skip_phase "integration (valgrind)" "WHARF_TEST_QUICK=1"
  skip_phase "asan build" "WHARF_TEST_QUICK=1"
  skip_phase "ctest (ASan+UBSan)" "WHARF_TEST_QUICK=1"
  skip_phase "fuzz smoke" "WHARF_TEST_QUICK=1"
else
  # the same integration suite with every wharf process under memcheck (definite leaks and invalid
  # accesses fail it; tests/valgrind.supp lists h2o's per-thread recycle bins)
  run_phase "integration (valgrind)" env WHARF_VALGRIND=1 tests/integration/run.sh "$PWD/build/wharf"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # leaks inside third-party libraries that the project has judged benign are listed
  # there, one `leak:<function or library>` per line with the reason beside it
  if [ -f tests/lsan.supp ]; then export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0; fi
  run_phase "asan build (Debug, ASan+UBSan)" configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DWHARF_SANITIZE=ON
  run_phase "ctest (ASan+UBSan)" run_ctest "ASan+UBSan" build-asan
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
  if command -v clang >/dev/null 2>&1; then
    run_phase "fuzz smoke (${FUZZ_SECONDS} s total)" run_fuzz
  else
    skip_phase "fuzz smoke" "clang not installed"
  fi
fi

# The phase table first, ctest's own closing lines last: CI reads the closing lines.
banner "summary"
print_phases
if [ "$FUZZ_RAN" -gt 0 ]; then
  printf '\nfuzz: %d targets, %d s each, no crash\n' "$FUZZ_RAN" "$((FUZZ_SECONDS / FUZZ_RAN))"
fi
echo
printf '%s\n' "${CTEST_SUMS[@]}"
# the plain closing line CI reads: every ctest run added up
printf 'total: %d passed, %d failed\n' "$CTEST_PASSED" "$CTEST_FAILED"
