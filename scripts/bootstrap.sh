#!/usr/bin/env bash
# Create .venv with Python 3.10 and the locked dependencies. Idempotent: a second run takes a second.
#
# Python 3.10 is required (Rasa 3.6 does not run on 3.11+). It is looked for, in order:
#   $PYTHON310 (an explicit interpreter path), the version in .python-version through pyenv,
#   any python3.10 on PATH, and finally `uv python find 3.10`.
set -euo pipefail
cd "$(dirname "$0")/.."

want="$(tr -d '[:space:]' < .python-version)"   # "3.10"
venv=".venv"
stamp="$venv/.lock-sha256"

is_310() { [ -n "${1:-}" ] && [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

find_python() {
  local candidate
  if is_310 "${PYTHON310:-}"; then echo "$PYTHON310"; return; fi
  if command -v pyenv >/dev/null 2>&1; then
    candidate="$(pyenv root)/versions/$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V | tail -n1)/bin/python"
    if is_310 "$candidate"; then echo "$candidate"; return; fi
  fi
  for candidate in "$(command -v "python$want" 2>/dev/null || true)" "$HOME"/.pyenv/versions/"$want".*/bin/python; do
    if is_310 "$candidate"; then echo "$candidate"; return; fi
  done
  if command -v uv >/dev/null 2>&1; then
    candidate="$(uv python find "$want" 2>/dev/null || true)"
    if is_310 "$candidate"; then echo "$candidate"; return; fi
  fi
  return 1
}

if ! python="$(find_python)"; then
  cat >&2 <<MSG
error: Python $want was not found, and Rasa 3.6 needs exactly Python $want (3.11 and later are not supported).
Install it with one of:
  pyenv install $want          (then run this again)
  uv python install $want
or point PYTHON310 at a $want interpreter: PYTHON310=/path/to/python3.10 make run
MSG
  exit 1
fi

# uv installs the ~200 pinned packages in seconds; it is itself installed into a small tool venv if absent.
uv="$(command -v uv || true)"
if [ -z "$uv" ]; then
  uv=".tools/uv/bin/uv"
  if [ ! -x "$uv" ]; then
    echo "bootstrap: installing uv into .tools/uv" >&2
    "$python" -m venv .tools/uv
    .tools/uv/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"
  fi
fi

lock_sha="$(sha256sum requirements.lock | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && is_310 "$venv/bin/python" && [ "$(cat "$stamp" 2>/dev/null)" = "$lock_sha" ]; then
  exit 0
fi
echo "bootstrap: creating $venv with $python ($("$python" --version 2>&1))" >&2
if ! is_310 "$venv/bin/python"; then
  rm -rf "$venv"
  "$uv" venv --quiet --python "$python" "$venv"
fi
"$uv" pip sync --quiet --python "$venv/bin/python" --require-hashes requirements.lock
echo "$lock_sha" > "$stamp"
echo "bootstrap: $venv ready" >&2
