"""Builders for generation tests: the use case and a worker over the local provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from db.database import Database
from integrations.ai.local import LocalProvider
from services.generation.catalog import build_catalog
from services.generation.media import MediaStore
from services.generation.providers import Provider
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.generation.worker import Worker, WorkerConfig

PRICE = 5_000_000


def models(providers: tuple[str, ...] = ("local",)) -> Any:
    return build_catalog(
        [
            {
                "id": "pic",
                "kind": "image",
                "title": "Picture",
                "providers": list(providers),
                "price": PRICE,
                "cost": 40_000,
                "concurrency": 100,
                "targets": {"bfl": "flux-pro-1.1", "replicate": "black-forest-labs/flux-1.1-pro"},
            },
            {
                "id": "tune",
                "kind": "music",
                "title": "Tune",
                "providers": list(providers),
                "targets": {"suno": "V4_5"},
                "price": PRICE,
                "cost": 40_000,
            },
            {
                "id": "clip",
                "kind": "video",
                "title": "Clip",
                "providers": list(providers),
                "targets": {"runway": "gen4.5", "gemini": "veo-3.1-generate-001"},
                "price": PRICE,
                "cost": 40_000,
            },
        ]
    )


def generation(
    db: Database,
    media: Path,
    *,
    providers: dict[str, Provider] | None = None,
    quotas: Quotas | None = None,
    order: tuple[str, ...] = ("local",),
) -> Generation:
    return Generation(
        db=db,
        models=models(order),
        quotas=quotas or Quotas(daily_per_kind=1000, concurrent=1000),
        providers=providers if providers is not None else {"local": LocalProvider(0.0)},
        media=MediaStore(media),
    )


def worker(gen: Generation, **config: Any) -> Worker:
    values: dict[str, Any] = {"idle_seconds": 0.05, "max_wait": 0.05, "retry_seconds": 0.01}
    values.update(config)
    return Worker(gen.db, gen.models, gen.providers, gen.media, WorkerConfig(**values))


async def drain(w: Worker, rounds: int = 200) -> None:
    """Step until nothing is due (jobs waiting on a later step are stepped again)."""
    import asyncio

    idle = 0
    for _ in range(rounds):
        if await w.run_once() == 0:
            idle += 1
            if idle > 3:
                return
            await asyncio.sleep(0.05)
        else:
            idle = 0
