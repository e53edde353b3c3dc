"""Where the Rasa project's files are; every tool resolves paths from here, not from the working directory."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.yml"
DOMAIN = ROOT / "domain"
DATA = ROOT / "data"
NLU_DATA = DATA / "nlu"
MODELS = ROOT / "models"
MODEL = MODELS / "current.tar.gz"
ENDPOINTS = ROOT / "endpoints.yml"
CREDENTIALS = ROOT / "credentials.yml"
REPORTS = ROOT / "reports"
HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
