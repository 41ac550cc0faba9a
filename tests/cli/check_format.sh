#!/usr/bin/env bash
# Every C++ file of the repository is formatted as .clang-format says (clang-format from
# Debian, installed by deploy/install-deps.sh). Lists the files that are not.
#   check_format.sh SOURCE_DIR
set -euo pipefail
cd "$1"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -co --exclude-standard '*.cpp' '*.hpp')
else
    mapfile -t files < <(find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.hpp' \) -print)
fi
bad=()
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "not formatted (run clang-format -i on them): ${bad[*]}"
    exit 1
fi
echo "${#files[@]} files formatted"
