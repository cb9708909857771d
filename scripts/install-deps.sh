#!/usr/bin/env bash
# Installs the Debian packages netsonar, its lab and its tests need. Idempotent: checks each
# package with `dpkg -s`, runs `apt-get update` once and installs only what is missing; safe to
# run when everything is there. Needs root (or sudo).
#
#   iproute2 (ip)          nftables (nft)        util-linux (nsenter)   iputils-ping (ping)
#   fping                  tcpdump               conntrack              bind9-dnsutils (dig)
#   dnsmasq-base (dnsmasq) tshark (capinfos)     prometheus (promtool)  iptables
set -euo pipefail

PACKAGES=(
  iproute2 nftables util-linux iputils-ping fping tcpdump conntrack
  bind9-dnsutils dnsmasq-base tshark prometheus iptables
)

say() { printf 'install-deps: %s\n' "$*"; }

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "this script needs a Debian/Ubuntu system (dpkg and apt-get); install these by hand: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  # "install ok installed" is the only status that means the package is really there
  # (a removed package leaves a "deinstall ok config-files" entry that dpkg -s still finds).
  if dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed'; then
    continue
  fi
  missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  say "all present: ${PACKAGES[*]}"
  exit 0
fi

say "missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    say "not root and no sudo: run this script as root" >&2
    exit 1
  fi
else
  SUDO=()
fi

say "apt-get update"
"${SUDO[@]}" apt-get update -q
say "apt-get install ${missing[*]}"
# tshark asks whether non-root users may capture; noninteractive takes the default (no).
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
  dpkg -s "$pkg" 2>/dev/null | grep -qx 'Status: install ok installed' || still+=("$pkg")
done
if [ "${#still[@]}" -ne 0 ]; then
  say "still missing after install: ${still[*]}" >&2
  exit 1
fi
say "installed: ${missing[*]}"
