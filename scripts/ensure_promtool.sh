#!/usr/bin/env bash
# promtool checks and unit-tests deploy/prometheus/alerts.yml (tests/deploy/test_alerts.py). It comes from Debian's
# `prometheus` package, unpacked into .tools/promtool/ (only the promtool binary: no Prometheus server is installed
# or started). Idempotent: a second run only prints the version.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/promtool/promtool
if [ -x "$dest" ]; then echo "promtool: $("$dest" --version 2>&1 | head -1)"; exit 0; fi
if command -v promtool >/dev/null 2>&1; then
  mkdir -p "$(dirname "$dest")" && ln -sf "$(command -v promtool)" "$dest"
  echo "promtool: $("$dest" --version 2>&1 | head -1)"; exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "error: the alert-rule tests need promtool: install Prometheus's promtool and put it on PATH" >&2
  exit 1
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
echo "installing promtool from Debian's prometheus package into .tools/promtool ..."
if ! (cd "$scratch" && apt-get download -qq prometheus >/dev/null 2>&1); then
  if [ "$(id -u)" != 0 ]; then
    echo "error: 'apt-get download prometheus' failed; run 'sudo apt-get update' and try again" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  (cd "$scratch" && apt-get download -qq prometheus >/dev/null 2>&1)
fi
dpkg-deb -x "$scratch"/prometheus_*.deb "$scratch/x"
mkdir -p "$(dirname "$dest")"
cp "$scratch/x/usr/bin/promtool" "$dest"
echo "promtool: $("$dest" --version 2>&1 | head -1)"
