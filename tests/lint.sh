#!/usr/bin/env bash
# Mechanical checks (style.md "Tests"): formatting matches .clang-format, and calls the house bans are absent.
# Usage: tests/lint.sh [source dir]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^tests/integration/node_modules/')
fail=0

if ! command -v clang-format >/dev/null; then
  echo "lint: clang-format is not installed (deploy/deps.sh test installs it)" >&2
  exit 1
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/wharf-lint-format.$$; then
  echo "lint: files differ from .clang-format (run: clang-format -i <file>):" >&2
  grep -o '^[^:]*\.[ch]' /tmp/wharf-lint-format.$$ | sort -u >&2
  fail=1
fi
rm -f /tmp/wharf-lint-format.$$

# Unbounded or unchecked string/number handling: use snprintf, memcpy with a checked length, wh_str_to_i64.
if grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets)\s*\(' "${files[@]}" | grep -v '^tests/'; then
  echo "lint: banned call (sprintf, strcpy, strcat, atoi, atol, gets)" >&2
  fail=1
fi
# MACs and secrets are compared with wh_ct_equal / CRYPTO_memcmp, never memcmp.
if grep -nE 'memcmp\s*\([^)]*(mac|sig|digest|secret|token|hmac)' "${files[@]}" | grep -v '^tests/' | grep -vE 'memcmp\([^,]+, "'; then
  echo "lint: memcmp on a MAC or secret: use wh_ct_equal" >&2
  fail=1
fi
# Nothing blocks a loop thread: no synchronous Redis, curl easy perform, or sleeps in loop code.
if grep -nE '\b(redisCommand|redisConnect|curl_easy_perform|usleep|nanosleep|sleep)\s*\(' \
  gateway/*.c dispatch/*.c queue/*.c cache/*.c 2>/dev/null; then
  echo "lint: blocking call in event-loop code" >&2
  fail=1
fi
if [ "$fail" = 0 ]; then
  echo "lint: ${#files[@]} files checked, 0 problems"
fi
exit "$fail"
