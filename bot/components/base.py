"""What the project's stateless components share: built from their config alone, nothing trained or stored.

Rasa builds a graph component with `create(config, model_storage, resource, execution_context)`. Ours keep only
the config (merged with `get_default_config()` by Rasa), so the constructor is the same for all of them.
Registration (`DefaultV1Recipe.register`) stays on each concrete class: a trained model names that class and its
config, which is why the classes, their module paths and their configs do not move.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from typing_extensions import Self


class ConfigOnly(GraphComponent):
    """A component that needs nothing but its config (`self.config`)."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = {} if config is None else config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> Self:
        return cls(config)


class RankingStep(ConfigOnly, IntentClassifier):
    """Works on the intent classifiers' output, so it must come after one of them in the pipeline."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]
