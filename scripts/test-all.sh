#!/usr/bin/env bash
# `npm test`: every test, in the order that fails fastest. Needs no running
# services of its own: the e2e harness starts Kubegate (production build), a
# real upstream OpenID provider, API-server stand-ins and a TLS proxy on
# loopback, and drives them with Debian's chromium and real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

bash scripts/ensure-system-deps.sh
mkdir -p test-reports  # not test-results/: Playwright empties that at start
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "typecheck";  npm run --silent typecheck
step "lint";       npm run --silent lint
step "unit tests"; npx vitest run --reporter=default --reporter=json --outputFile.json=test-reports/unit.json
step "build";      npm run --silent build
step "HTTP tests"; npx vitest run --config vitest.http.config.ts --reporter=default --reporter=json --outputFile.json=test-reports/http.json
step "end-to-end"; PLAYWRIGHT_JSON_OUTPUT_NAME=test-reports/e2e.json npx playwright test --reporter=list,json

node scripts/summarize-tests.mjs test-reports/unit.json test-reports/http.json test-reports/e2e.json
