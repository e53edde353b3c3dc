"""Tooling around the Rasa project: training cache, data checks, evaluation, pipeline comparison, local stack."""
