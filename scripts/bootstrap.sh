#!/usr/bin/env bash
# Create .venv with Python 3.10 and the locked dependencies. Idempotent: a second run takes a second.
#
# Python 3.10 is required (Rasa 3.6 does not run on 3.11+). It is looked for, in order:
#   $PYTHON310 (an explicit interpreter path), the version in .python-version through pyenv,
#   any python3.10 on PATH, and `uv python find 3.10`. When none is there, `uv python install 3.10` is tried
#   (it downloads a standalone CPython build, so it needs the internet; offline it cannot work and we say so).
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
  for candidate in "$(command -v uv 2>/dev/null || true)" .tools/uv/bin/uv; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      candidate="$("$candidate" python find "$want" 2>/dev/null || true)"
      if is_310 "$candidate"; then echo "$candidate"; return; fi
    fi
  done
  return 1
}

# uv installs the ~200 pinned packages in seconds; it is itself installed into a small tool venv if absent,
# with whichever Python is at hand (uv is a binary wheel: any python3 with venv and pip can install it).
uv=""
ensure_uv() {
  uv="$(command -v uv || true)"
  if [ -n "$uv" ]; then return 0; fi
  uv=".tools/uv/bin/uv"
  if [ -x "$uv" ]; then return 0; fi
  local base="${1:-$(command -v python3 || true)}"
  if [ -z "$base" ]; then return 1; fi
  echo "bootstrap: installing uv into .tools/uv (with $base)" >&2
  rm -rf .tools/uv
  "$base" -m venv .tools/uv && .tools/uv/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"
}

if ! python="$(find_python)"; then
  echo "bootstrap: Python $want not found; trying: uv python install $want (downloads a standalone build)" >&2
  if ensure_uv && "$uv" python install "$want" >&2 && python="$("$uv" python find "$want" 2>/dev/null)" \
     && is_310 "$python"; then
    echo "bootstrap: installed Python $want with uv: $python" >&2
  else
    cat >&2 <<MSG
error: Python $want was not found, and Rasa 3.6 needs exactly Python $want (3.11 and later are not supported).
'uv python install $want' did not work either: it downloads a CPython build from the internet (GitHub), so on a
machine without that access (offline, or behind a proxy that allows only package registries) it cannot work.
Install Python $want another way, then run this again:
  pyenv install $want                      (builds from source; needs the source tarball)
  apt-get install python$want python$want-venv  (where your distribution packages it)
or point PYTHON310 at a $want interpreter: PYTHON310=/path/to/python3.10 make run
MSG
    exit 1
  fi
fi
if ! ensure_uv "$python"; then
  echo "error: could not install uv (pip install uv==0.13.9 failed); install uv and run this again" >&2
  exit 1
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
