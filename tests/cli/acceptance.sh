#!/usr/bin/env bash
# Replays the published acceptance case and compares it with the expected output.
#   acceptance.sh REPLAY SHARED_DIR MODE
# MODE jsonl: structural comparison by shared/tools/compare-replay.py;
# MODE table: byte-for-byte comparison of --table with the expected sheet.
set -euo pipefail
replay=$1 shared=$2 mode=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
case "$mode" in
    jsonl)
        "$replay" --profile acceptance-42 "$shared/acceptance/case42.txt" >"$out"
        python3 "$shared/tools/compare-replay.py" "$shared/acceptance/case42.expected.jsonl" "$out"
        ;;
    table)
        "$replay" --profile acceptance-42 --table "$shared/acceptance/case42.txt" >"$out"
        diff -u "$shared/acceptance/case42.expected-table.txt" "$out"
        echo "table matches"
        ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
