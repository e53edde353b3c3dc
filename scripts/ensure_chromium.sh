#!/usr/bin/env bash
# The agent inbox is tested in a real browser: Debian's chromium (no browser download at run time).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then echo "chromium: $(chromium --version 2>/dev/null | head -1)"; exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "error: the inbox browser tests need chromium; install Debian's package: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "installing chromium from Debian's packages ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
echo "chromium: $(chromium --version 2>/dev/null | head -1)"
