#!/usr/bin/env bash
# bench/json/compare.sh DIR...: the runs' ratios to jansson side by side (median per class, parser and mode), to see
# how much the shared box moved them. DIRs are bench/results/json-* folders (their samples.tsv). POSIX awk + sort.
set -euo pipefail
echo "| class | mode | parser | x jansson, run by run |"
echo "|---|---|---|---|"
for d in "$@"; do
  sort -t$'\t' -k1,1 -k2,2 -k3,3 -k7,7g "$d/samples.tsv" | awk -F'\t' -v run="$(basename "$d")" '
    { k = $1 "\t" $2 "\t" $3; n[k]++; s[k, n[k]] = $7 }
    END {
      for (k in n) med[k] = s[k, int((n[k] + 1) / 2)]
      for (k in med) { split(k, f, "\t"); printf "%s\t%s\t%s\t%s\t%.3f\n", f[1], f[3], f[2], run, med[k] / med[f[1] "\tjansson\t" f[3]] }
    }'
done | sort -t$'\t' -k1,1 -k2,2 -k3,3 -k4,4 | awk -F'\t' '
  { key = $1 " | " $2 " | " $3; if (key != last) { if (last != "") print line " |"; line = "| " key " |"; last = key } line = line " " $5 }
  END { print line " |" }'
