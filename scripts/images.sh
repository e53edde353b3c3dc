#!/usr/bin/env bash
# Build every image of docker/Dockerfile and smoke-test them together (`make images`; docs/deploy.md, "Images").
#   scripts/images.sh            build mf-assistant/<target>:<TAG> (TAG defaults to the git commit) and :local,
#                                then start them with deploy/compose.yml (dev profile, random secrets) and check that
#                                every service turns healthy and the gateway accepts a signed webhook
#   scripts/images.sh --no-test  build only
# The rasa image bakes in models/current.tar.gz when it exists (the model stage is replaced by it, no training in
# Docker); MODEL=train trains inside the build instead. Needs a container engine with BuildKit (Docker 23+).
# Where there is none (this project's build machine), it says so and exits 2: tests/deploy/test_images.py is what
# proves the images' contents there.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}"
targets=(rasa gateway actions handoff accounts-api whatsapp-simulator)

if ! docker info >/dev/null 2>&1; then
  cat >&2 <<MSG
images: no container engine here ('docker info' fails: the docker client may be installed, but no daemon answers).
Nothing was built. On this machine the images are proven by tests/deploy/test_images.py, which lays out each
target's files as its COPY lines say and starts its command with production settings. Run 'make images' where
Docker (with BuildKit) runs: a laptop, or CI with a Docker daemon.
MSG
  exit 2
fi

model_args=()
if [ "${MODEL:-}" != train ] && [ -f models/current.tar.gz ]; then
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
  mkdir -p "$context/app/models" && cp models/current.tar.gz "$context/app/models/"
  model_args=(--build-context "model=$context")
  echo "images: baking in models/current.tar.gz (MODEL=train to train in the build instead)"
fi

for target in "${targets[@]}"; do
  echo "=== building $target ($tag)"
  extra=()
  [ "$target" = rasa ] && extra=("${model_args[@]}")
  docker build -f docker/Dockerfile --target "$target" "${extra[@]}" \
    -t "mf-assistant/$target:$tag" -t "mf-assistant/$target:local" .
done
docker image ls --filter reference='mf-assistant/*' --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep ":$tag" || true

if [ "${1:-}" = --no-test ]; then exit 0; fi

echo "=== smoke test: deploy/compose.yml with the dev profile"
env_file="$(mktemp)"
project="mfa-smoke-$$"
cleanup() { docker compose -p "$project" -f deploy/compose.yml --env-file "$env_file" down -v >/dev/null 2>&1 || true
            rm -f "$env_file"; }
trap cleanup EXIT
secret() { .venv/bin/python -c 'import secrets; print(secrets.token_hex(16))'; }
sed -e "s/^COMPOSE_PROFILES=.*/COMPOSE_PROFILES=dev/" -e "s/^APP_ENV=.*/APP_ENV=production/" deploy/.env.example \
  | while IFS= read -r line; do
      case "$line" in *=change-me) echo "${line%%=*}=$(secret)" ;; *) echo "$line" ;; esac
    done > "$env_file"
compose=(docker compose -p "$project" -f deploy/compose.yml --env-file "$env_file")
"${compose[@]}" up -d --no-build --wait --wait-timeout 900
"${compose[@]}" ps
app_secret="$(grep '^WHATSAPP_APP_SECRET=' "$env_file" | cut -d= -f2)"
phone_id="$(grep '^WHATSAPP_PHONE_NUMBER_ID=' "$env_file" | cut -d= -f2)"
status="$(.venv/bin/python - "$app_secret" "$phone_id" <<'PY'
import json, sys, time, urllib.request
from connectors.whatsapp.signature import HEADER, sign
secret, phone = sys.argv[1], sys.argv[2]
body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
    "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111",
    "phone_number_id": phone}, "contacts": [{"profile": {"name": "Smoke"}, "wa_id": "919800000001"}],
    "messages": [{"from": "919800000001", "id": f"wamid.smoke{int(time.time())}", "timestamp": str(int(time.time())),
    "type": "text", "text": {"body": "hi"}}]}}]}]}).encode()
request = urllib.request.Request("http://127.0.0.1:5006/webhooks/whatsapp/webhook", data=body, method="POST",
                                 headers={"Content-Type": "application/json", HEADER: sign(body, secret)})
print(urllib.request.urlopen(request, timeout=10).status)
PY
)"
[ "$status" = 200 ] || { echo "images: the gateway answered $status to a signed webhook" >&2; exit 1; }
echo "images: every service healthy; the gateway accepted a signed webhook"
