# Self-documenting: `make help` lists the targets with their ## comments.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv/bin
RASA := source scripts/env.sh && $(VENV)/rasa
MODEL := models/current.tar.gz

.PHONY: help install run test model validate evaluate gate compare lint typecheck bench chat images locks

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## create .venv with Python 3.10 and the locked dependencies
	@scripts/bootstrap.sh

run: install model ## run the whole assistant locally (embedded defaults)
	@source scripts/env.sh && $(VENV)/python -m bot.stack

test: install ## lint, type-check, validate data, train (once), run every test
	@scripts/test.sh

model: install ## train the model into models/current.tar.gz (skipped when nothing changed)
	@mkdir -p models && source scripts/env.sh && flock models/.train.lock $(VENV)/python -m bot.train

validate: install ## check the training data (Rasa's validator + the project's own checks)
	@source scripts/env.sh && $(VENV)/python -m bot.validate

evaluate: install ## evaluate NLU on every set in tests/nlu/: accuracy, wrong answers, calibration, confusions
	@source scripts/env.sh && $(VENV)/python -m bot.evaluate

gate: install ## may a candidate model replace models/current.tar.gz? (CANDIDATE=path): reports/gate/summary.md
	@test -n "$(CANDIDATE)" || { echo "usage: make gate CANDIDATE=models/candidate.tar.gz"; exit 2; }
	@source scripts/env.sh && $(VENV)/python -m bot.gate "$(CANDIDATE)"

compare: install ## cross-validate the candidate NLU pipelines (docs/nlu-pipeline.md)
	@source scripts/env.sh && $(VENV)/python -m bot.compare_pipelines

lint: install ## ruff
	@$(VENV)/ruff check .

typecheck: install ## mypy
	@$(VENV)/mypy

bench: install model ## all benchmarks (figures + one JSON line each)
	@source scripts/env.sh && for b in bench/*.py; do $(VENV)/python $$b || exit 1; done

chat: install ## chat with the running assistant in this terminal (REST channel)
	@source scripts/env.sh && $(VENV)/python -m bot.chat

images: install ## build every Docker image and smoke-test them with compose (needs a container engine; TAG=...)
	@scripts/images.sh

locks: ## regenerate requirements.lock and each image's requirements/<image>.lock from the .in files
	@scripts/lock.sh
