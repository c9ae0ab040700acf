#!/usr/bin/env bash
# Installs the Debian packages the native ESP32-host build needs, only when one is missing:
# a C compiler with AddressSanitizer (gcc), make, cmake, pip (to fetch wasm3) and mbedTLS
# (libmbedtls-dev: module package signatures, the group key's HMAC) and cJSON (libcjson-dev: the
# group member's status and config documents, tools/lsh_node.c; ESP-IDF ships cJSON); with --m32
# also gcc-multilib (the 32-bit bench build).
# Idempotent: with everything present it changes nothing and needs no network.
set -euo pipefail

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if ! command -v pip3 >/dev/null 2>&1 && ! command -v pip >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3-pip)
fi

# mbedTLS headers and library: package signatures (host-esp32/src/lsh_package.c).
if [ ! -f /usr/include/mbedtls/pk.h ] || ! dpkg-query -W -f='${Status}' libmbedtls-dev 2>/dev/null | grep -q "install ok installed"; then
  missing+=(libmbedtls-dev)
fi

# cJSON: the group member's JSON documents (src/lsh_member.c; ESP-IDF has it as its json component).
if [ ! -f /usr/include/cjson/cJSON.h ] || ! dpkg-query -W -f='${Status}' libcjson-dev 2>/dev/null | grep -q "install ok installed"; then
  missing+=(libcjson-dev)
fi

if [ "${1:-}" = "--m32" ]; then
  probe="$(mktemp -d)"
  echo 'int main(void) { return 0; }' > "$probe/m32.c"
  cc -m32 "$probe/m32.c" -o "$probe/m32" >/dev/null 2>&1 || missing+=(gcc-multilib)
  rm -rf "$probe"
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-native-tools: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run this script as root" >&2
  exit 1
fi
echo "ensure-native-tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
