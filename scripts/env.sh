# Sourced by the Makefile's recipes: the documented defaults (docs/configuration.md) for every variable
# the Rasa project files reference, so that a fresh machine runs with nothing set.
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-http://127.0.0.1:5055/webhook}"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export ACTION_SERVER_TOKEN="${ACTION_SERVER_TOKEN:-dev-action-token}"
export REST_CHANNEL_TOKEN="${REST_CHANNEL_TOKEN:-dev-rest-token}"
export HANDOFF_URL="${HANDOFF_URL:-http://127.0.0.1:8091}"
export RASA_TELEMETRY_ENABLED="${RASA_TELEMETRY_ENABLED:-false}"
