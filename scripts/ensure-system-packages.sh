#!/usr/bin/env bash
# Installs the Debian packages given as arguments, only those not installed yet, so it is
# cheap to call from every run (CI machines start fresh; developer machines usually have
# them). Needs root (or sudo) only when something is actually missing.
#   scripts/ensure-system-packages.sh wabt gcc libc6-dev
set -euo pipefail
missing=()
for package in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-packages: missing ${missing[*]} and no apt-get to install them" >&2
  exit 1
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-system-packages: missing ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
echo "ensure-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
