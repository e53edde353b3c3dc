#!/usr/bin/env bash
# Regenerate the hashed locks from the .in files (docs/deploy.md, "Dependencies"):
#   requirements.lock            the development venv: every image's dependencies + training extras + test tools
#   requirements/<image>.lock    one image's runtime dependencies, constrained to requirements.lock's versions
# Pins already in a lock are kept (uv prefers them); pass --upgrade to re-resolve everything.
#   scripts/lock.sh            regenerate every lock
#   scripts/lock.sh sizes      install each image's lock into a scratch venv and print its size (du -sh)
set -euo pipefail
cd "$(dirname "$0")/.."
uv="$(command -v uv || echo .tools/uv/bin/uv)"
opts=(--python-version 3.10 --generate-hashes --quiet)
images=(rasa gateway actions handoff accounts-api whatsapp-simulator)

if [ "${1:-}" = sizes ]; then
  python="${PYTHON310:-$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')/bin/python3}"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  printf '%-20s %8s %9s\n' image packages installed
  for image in "${images[@]}"; do
    "$uv" venv --quiet --python "$python" "$scratch/$image"
    UV_LINK_MODE=copy "$uv" pip sync --quiet --python "$scratch/$image/bin/python" --require-hashes "requirements/$image.lock"
    printf '%-20s %8s %9s\n' "$image" "$(grep -cE '^[a-z0-9]' "requirements/$image.lock")" \
      "$(du -sh "$scratch/$image" | cut -f1)"
    rm -rf "${scratch:?}/$image"
  done
  exit 0
fi

"$uv" pip compile requirements.in -o requirements.lock "${opts[@]}" "$@"
for image in "${images[@]}"; do
  excludes=()
  [ -f "requirements/$image.exclude" ] && excludes=(--excludes "requirements/$image.exclude")
  "$uv" pip compile "requirements/$image.in" -c requirements.lock "${excludes[@]}" \
    -o "requirements/$image.lock" "${opts[@]}" "$@"
done
echo "locks written: requirements.lock requirements/{$(IFS=,; echo "${images[*]}")}.lock"
