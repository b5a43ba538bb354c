"""Image generation results."""

from __future__ import annotations

from typing import Any

from ._base import Response


class Image(Response):
    """One generated image: a URL (valid for an hour) or base64 data."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImageGeneration(Response):
    """The result of ``generate_image``."""

    created: int = 0
    data: list[Image] = []
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    usage: Any = None
