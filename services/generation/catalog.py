"""The models a user can order: built-in defaults, or a JSON file (`AI_CATALOG_FILE`).

A model names its kind, the providers that can make it in order of preference, its price in
the asset's smallest units, what one job costs us at the provider (USD micro-units, for the
daily budget) and how many of its jobs one user may have running. Parameters are checked by
the pydantic model of its kind, so every door refuses the same input the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from services.generation.errors import InvalidParams, ModelNotFound
from services.validation import echo

Kind = Literal["image", "music", "video"]
KINDS: tuple[Kind, ...] = ("image", "music", "video")


class ImageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aspect_ratio: Literal["1:1", "16:9", "9:16", "4:3", "3:4"] = "1:1"
    style: Literal["none", "photo", "art", "anime"] = "none"
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class MusicParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: int = Field(default=8, ge=2, le=60)
    instrumental: bool = True
    style: Literal["none", "pop", "rock", "ambient", "electronic"] = "none"


class VideoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aspect_ratio: Literal["16:9", "9:16", "1:1"] = "16:9"
    duration: Literal[4, 6, 8] = 4


PARAMS: dict[Kind, type[BaseModel]] = {
    "image": ImageParams,
    "music": MusicParams,
    "video": VideoParams,
}


@dataclass(frozen=True)
class ModelSpec:
    id: str
    kind: Kind
    title: str
    providers: tuple[str, ...]
    price: int
    cost: int
    concurrency: int
    # The provider's own model name per provider (an endpoint, a Replicate model, ...).
    targets: Mapping[str, str]

    def params(self, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """The validated parameters with their defaults; raises InvalidParams."""
        try:
            parsed = PARAMS[self.kind].model_validate(dict(raw or {}))
        except PydanticError as exc:
            # A field's name is the client's own key: shown back (and stored by the
            # idempotency record) only as `echo` makes it safe.
            fields = [echo(".".join(str(p) for p in e["loc"])) for e in exc.errors()]
            raise InvalidParams("invalid parameters", fields=fields) from None
        return parsed.model_dump()


class _SpecIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    kind: Kind
    title: str = Field(min_length=1, max_length=64)
    providers: list[str] = Field(min_length=1)
    price: int = Field(ge=0, description="In the asset's smallest units")
    cost: int = Field(ge=0, description="USD micro-units per job")
    concurrency: int = Field(default=2, ge=1, le=100)
    targets: dict[str, str] = Field(default_factory=dict)


VIBE = 1_000_000  # smallest units of one VIBE (6 decimals)

BUILT_IN: tuple[dict[str, Any], ...] = (
    {
        "id": "flux-pro",
        "kind": "image",
        "title": "FLUX 1.1 [pro]",
        "providers": ["bfl", "replicate", "local"],
        "price": 5 * VIBE,
        "cost": 40_000,
        "targets": {"bfl": "flux-pro-1.1", "replicate": "black-forest-labs/flux-1.1-pro"},
    },
    {
        "id": "midjourney",
        "kind": "image",
        "title": "Midjourney",
        "providers": ["mj", "local"],
        "price": 8 * VIBE,
        "cost": 60_000,
    },
    {
        "id": "suno",
        "kind": "music",
        "title": "Suno",
        "providers": ["suno", "local"],
        "price": 10 * VIBE,
        "cost": 80_000,
        "targets": {"suno": "V4_5"},
    },
    {
        "id": "veo3",
        "kind": "video",
        "title": "Veo 3",
        "providers": ["gemini", "replicate", "local"],
        "price": 60 * VIBE,
        "cost": 3_200_000,
        "concurrency": 1,
        "targets": {"gemini": "veo-3.1-generate-001", "replicate": "google/veo-3"},
    },
    {
        "id": "runway",
        "kind": "video",
        "title": "Runway Gen-4.5",
        "providers": ["runway", "local"],
        "price": 30 * VIBE,
        "cost": 480_000,
        "concurrency": 1,
        "targets": {"runway": "gen4.5"},
    },
)


class ModelCatalog:
    def __init__(self, specs: list[ModelSpec]) -> None:
        self.models: dict[str, ModelSpec] = {spec.id: spec for spec in specs}

    def get(self, model_id: str) -> ModelSpec:
        spec = self.models.get(model_id)
        if spec is None:
            raise ModelNotFound("unknown model", model=model_id[:64])
        return spec

    def of_kind(self, kind: Kind) -> list[ModelSpec]:
        return [spec for spec in self.models.values() if spec.kind == kind]


def build_catalog(items: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> ModelCatalog:
    specs = []
    for item in items:
        s = _SpecIn.model_validate(item)
        specs.append(
            ModelSpec(
                id=s.id,
                kind=s.kind,
                title=s.title,
                providers=tuple(s.providers),
                price=s.price,
                cost=s.cost,
                concurrency=s.concurrency,
                targets=dict(s.targets),
            )
        )
    return ModelCatalog(specs)


def load_model_catalog(path: Path | None) -> ModelCatalog:
    """The built-in catalog, or the file's list of models in its place."""
    if path is None:
        return build_catalog(BUILT_IN)
    return build_catalog(json.loads(path.read_text(encoding="utf-8")))


def params_schema(kind: Kind) -> dict[str, Any]:
    return PARAMS[kind].model_json_schema()
