#!/usr/bin/env bash
# Replays the published acceptance case and compares it with the expected output.
#   acceptance.sh REPLAY ACCEPTANCE_DIR MODE [COMPARE_TOOL]
# ACCEPTANCE_DIR holds case42.txt and its expected outputs (tests/data/acceptance).
# MODE jsonl: structural comparison by COMPARE_TOOL (default tests/tools/compare_replay.py);
# MODE table: byte-for-byte comparison of --table with the expected sheet.
set -euo pipefail
replay=$1 data=$2 mode=$3
compare=${4:-$(cd "$(dirname "$0")/.." && pwd)/tools/compare_replay.py}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
case "$mode" in
    jsonl)
        "$replay" --profile acceptance-42 "$data/case42.txt" >"$out"
        python3 "$compare" "$data/case42.expected.jsonl" "$out"
        ;;
    table)
        "$replay" --profile acceptance-42 --table "$data/case42.txt" >"$out"
        diff -u "$data/case42.expected-table.txt" "$out"
        echo "table matches"
        ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
