#!/usr/bin/env bash
# The documents' checkers, pinned in docs/tools (npm, from the committed lock file).
#   doc-tools.sh SOURCE_DIR WORK_DIR install    npm ci into WORK_DIR (once)
#   doc-tools.sh SOURCE_DIR WORK_DIR asyncapi   validate docs/asyncapi.yaml (AsyncAPI parser)
#   doc-tools.sh SOURCE_DIR WORK_DIR openapi    lint docs/openapi.yaml (Redocly, recommended rules)
set -euo pipefail
src=$1 work=$2 what=$3
case "$what" in
    install)
        mkdir -p "$work"
        cp "$src/docs/tools/package.json" "$src/docs/tools/package-lock.json" \
           "$src/docs/tools/validate-asyncapi.mjs" "$work/"
        if [ ! -d "$work/node_modules/@asyncapi/parser" ] || [ ! -d "$work/node_modules/@redocly/cli" ]; then
            (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
        fi
        ;;
    asyncapi)
        node "$work/validate-asyncapi.mjs" "$src/docs/asyncapi.yaml"
        ;;
    openapi)
        # Warnings fail too: the document must be clean under the recommended rules.
        REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
            "$work/node_modules/.bin/redocly" lint "$src/docs/openapi.yaml" --format=stylish --max-problems=50 \
            2>&1 | tee "$work/openapi-lint.txt"
        ! grep -Eq '(error|warning) ' "$work/openapi-lint.txt"
        ;;
    *)
        echo "usage: doc-tools.sh SOURCE_DIR WORK_DIR install|asyncapi|openapi" >&2
        exit 2
        ;;
esac
