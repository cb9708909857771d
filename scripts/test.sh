#!/usr/bin/env bash
# The whole test suite (README's second command: `npm test`). Run as root on Debian/Ubuntu with
# Node 20: it installs the Debian tools and npm packages it needs, then type-checks, lints,
# builds, and runs the unit tests and the privileged tests (real network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "netsonar tests: run as root (the privileged tests create network namespaces): sudo npm test" >&2
  exit 1
fi

step "Debian tools (scripts/install-deps.sh)"
bash scripts/install-deps.sh
step "npm packages (npm install; not npm ci, see docs/development.md)"
npm install --no-fund --no-audit --loglevel=error
step "type-check (tsc --noEmit)"
npx tsc --noEmit
step "lint and format check (biome, warnings are errors)"
npx biome check --error-on-warnings .
step "build (tsc)"
npm run --silent build

if [ "${CI:-}" = "true" ]; then
  # A CI machine may hold a lab left by an aborted run (e.g. a benchmark killed mid-way); the
  # privileged tests need the machine's lab addresses free. Only under CI: on a developer's
  # machine a running demo lab is theirs, and the tests refuse to start next to it instead.
  step "CI: removing labs left by earlier runs"
  for dir in /run/netsonar-lab*/; do
    [ -d "$dir" ] || continue
    node dist/lab/cli.js down --state-dir "${dir%/}" || true
  done
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
export NODE_OPTIONS=--experimental-vm-modules
status=0
step "unit tests"
npx jest --selectProjects unit --json --outputFile="$results/unit.json" || status=1
step "privileged tests (real namespaces, nftables, processes; one file at a time)"
npx jest --selectProjects privileged --runInBand --json --outputFile="$results/privileged.json" || status=1

# One closing line any CI can read: "N passed, N failed".
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    skipped += r.numPendingTests;
  }
  console.log(`\nnetsonar: ${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results/unit.json" "$results/privileged.json"
exit $status
