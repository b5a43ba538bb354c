"""Service endpoints beyond the seed docs: the model list and the health check."""

from __future__ import annotations

from typing import Any

from ._base import Response


class Model(Response):
    """A model the router can serve.

    Two shapes decode: OpenAI's (``id``, ``owned_by``, ``created``) and the one the seed
    SDK describes for ``GET /v1/models`` (``model_name``, ``model_provider``,
    ``sudo_model_id``, ``created_at``); ``id`` is the model's name either way.
    """

    id: str = ""
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None
    model_name: str | None = None
    model_provider: str | None = None
    sudo_model_id: int | None = None
    created_at: str | None = None

    def __post_init__(self) -> None:
        if not self.id and self.model_name:
            self.id = self.model_name


class ModelList(Response):
    """The answer of ``GET /v1/models`` (the seed SDK's pages it, with ``first_id``,
    ``last_id`` and ``has_more``)."""

    object: str = "list"
    data: list[Model] = []
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class HealthStatus(Response):
    """The answer of ``GET /system/health`` (untyped in the seed SDK: ``status`` is kept
    as sent)."""

    status: Any = ""
