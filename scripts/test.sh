#!/usr/bin/env bash
# The whole test-suite, as CI runs it (`make test`): lint, types, data checks, one training, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bin=.venv/bin
step() { printf '\n=== %s ===\n' "$*"; }

step "infrastructure (RabbitMQ, Redis, PostgreSQL)"
$bin/python -c "from common import infra; infra.require_all(); print('all reachable')"

step "browser for the inbox tests (Debian's chromium)"
scripts/ensure_chromium.sh

step "promtool for the alert-rule tests (from Debian's prometheus package; no server)"
scripts/ensure_promtool.sh

step "lint (ruff)"
$bin/ruff check .

step "types (mypy)"
$bin/mypy

step "training data (make validate)"
$bin/python -m bot.validate

step "model (trained once, reused while its inputs are unchanged)"
mkdir -p models
flock models/.train.lock $bin/python -m bot.train

step "tests (pytest)"
$bin/pytest "$@"
