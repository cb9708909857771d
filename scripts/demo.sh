#!/usr/bin/env bash
# The demo (README's first command: `npm run demo`). Run as root on Debian/Ubuntu with Node 20:
# installs what it needs, builds, brings up a 3-node lab of network namespaces, runs the
# collector and one agent per node, and after a minute injects 30% loss between two nodes.
# Ctrl-C (or --duration) stops everything and removes the lab. Extra flags go to the demo:
#   npm run demo -- --duration 5m --nodes 4 --pods-per-node 2
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "netsonar demo: run as root (it creates network namespaces): sudo npm run demo" >&2
  exit 1
fi
step "Debian tools (scripts/install-deps.sh)"
bash scripts/install-deps.sh
step "npm packages (npm install)"
npm install --no-fund --no-audit --loglevel=error
step "build (tsc)"
npm run --silent build
exec node dist/lab/demo.js "$@"
