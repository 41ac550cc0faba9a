#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the AsyncAPI parser pinned in docs/tools (npm).
#   validate-asyncapi.sh SOURCE_DIR WORK_DIR
# The parser is installed once into WORK_DIR (npm ci from the committed lock file).
set -euo pipefail
src=$1 work=$2
mkdir -p "$work"
cp "$src/docs/tools/package.json" "$src/docs/tools/package-lock.json" \
   "$src/docs/tools/validate-asyncapi.mjs" "$work/"
if [ ! -d "$work/node_modules/@asyncapi/parser" ]; then
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
node "$work/validate-asyncapi.mjs" "$src/docs/asyncapi.yaml"
