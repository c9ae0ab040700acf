#!/bin/sh
# Installs what the mDNS network-namespace test needs (iproute2 for `ip netns`), if missing.
# Idempotent; needs root and apt-get (Debian/Ubuntu CI). Prints why when it cannot.
set -e
if command -v ip >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then echo "ensure-netns-tools: not root, cannot install iproute2" >&2; exit 1; fi
if ! command -v apt-get >/dev/null 2>&1; then echo "ensure-netns-tools: no apt-get, cannot install iproute2" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
