"""Generation as the settings describe it: the catalog, the quotas, the providers with a key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.ai.bfl import BflProvider
from integrations.ai.gemini import GeminiVeoProvider
from integrations.ai.local import LocalProvider
from integrations.ai.midjourney import MidjourneyProxyProvider
from integrations.ai.replicate import ReplicateProvider
from integrations.ai.runway import RunwayProvider
from integrations.ai.suno import SunoProvider
from services.generation.catalog import load_model_catalog
from services.generation.media import MediaStore
from services.generation.providers import Provider
from services.generation.service import Quotas
from services.generation.usecase import Generation

if TYPE_CHECKING:
    from app.settings import Settings
    from db.database import Database


def providers(settings: Settings) -> dict[str, Provider]:
    """Every provider with a key, and `local`, which needs none and is every model's last."""
    found: dict[str, Provider] = {"local": LocalProvider(settings.ai_local_seconds)}
    if settings.bfl_api_key is not None:
        found["bfl"] = BflProvider(settings.bfl_api_base, settings.bfl_api_key.get_secret_value())
    if settings.replicate_api_token is not None:
        secret = settings.replicate_webhook_secret
        found["replicate"] = ReplicateProvider(
            settings.replicate_api_base,
            settings.replicate_api_token.get_secret_value(),
            webhook_secret=secret.get_secret_value() if secret else None,
        )
    if settings.runway_api_key is not None:
        key = settings.runway_api_key.get_secret_value()
        found["runway"] = RunwayProvider(settings.runway_api_base, key)
    if settings.gemini_api_key is not None:
        key = settings.gemini_api_key.get_secret_value()
        found["gemini"] = GeminiVeoProvider(settings.gemini_api_base, key)
    if settings.suno_api_key is not None:
        key = settings.suno_api_key.get_secret_value()
        found["suno"] = SunoProvider(settings.suno_api_base, key)
    if settings.mj_api_key is not None and settings.mj_api_base:
        key = settings.mj_api_key.get_secret_value()
        found["mj"] = MidjourneyProxyProvider(settings.mj_api_base, key)
    return found


def generation(settings: Settings, db: Database) -> Generation:
    return Generation(
        db=db,
        models=load_model_catalog(settings.ai_catalog_file),
        quotas=Quotas(
            daily_per_kind=settings.ai_daily_per_kind,
            concurrent=settings.ai_concurrent_jobs,
            daily_budget=int(settings.ai_daily_budget_usd * 1_000_000),
        ),
        providers=providers(settings),
        media=MediaStore(settings.ai_media_dir or settings.data_dir / "media"),
    )
