"""Service endpoints beyond the seed docs: the model list and the health check."""

from __future__ import annotations

from ._base import Response


class Model(Response):
    """A model the router can serve."""

    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


class ModelList(Response):
    """The answer of ``GET /v1/models``."""

    object: str = "list"
    data: list[Model] = []


class HealthStatus(Response):
    """The answer of ``GET /system/health``."""

    status: str = ""
