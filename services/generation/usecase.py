"""Generation as the doors use it: order, read, list, cancel, read a result's bytes."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import Database
from services.generation.catalog import ModelCatalog, params_schema
from services.generation.errors import GenerationNotFound
from services.generation.media import MediaStore
from services.generation.providers import Handle, Provider, ProviderError
from services.generation.schemas import JobOut, ModelOut
from services.generation.service import (
    Order,
    Quotas,
    cancel_job,
    check_prompt,
    create_job,
    get_job,
    get_row,
    job_out,
    list_jobs,
)
from services.ledger.assets import DEFAULT_ASSET


@dataclass(frozen=True)
class Generation:
    db: Database
    models: ModelCatalog
    quotas: Quotas
    providers: Mapping[str, Provider]
    media: MediaStore

    async def order(
        self,
        *,
        user_id: UUID,
        request_key: str,
        model: str,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        chat_id: int | None = None,
    ) -> tuple[JobOut, bool]:
        """Raises ModelNotFound, InvalidParams, InvalidPrompt and what `create_job` raises."""
        spec = self.models.get(model)
        checked = spec.params(params)
        text = check_prompt(prompt)
        async with self.db.service() as session:
            return await create_job(
                session,
                Order(
                    user_id=user_id,
                    request_key=request_key,
                    model=spec,
                    prompt=text,
                    params=checked,
                    chat_id=chat_id,
                ),
                self.quotas,
            )

    async def get(self, user_id: UUID, job_id: UUID) -> JobOut:
        async with self.db.user(user_id) as session:
            return await get_job(session, user_id, job_id)

    async def history(
        self, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None = None
    ) -> list[JobOut]:
        async with self.db.user(user_id) as session:
            return await list_jobs(session, user_id, limit=limit, before=before)

    async def cancel(self, user_id: UUID, job_id: UUID) -> JobOut:
        """Refunded at once; the provider is asked to stop where it can.

        Raises GenerationNotFound, GenerationFinished.
        """
        async with self.db.service() as session:
            row = await cancel_job(session, user_id, job_id)
        provider = self.providers.get(row.provider or "")
        if provider is not None and row.provider_job_id:
            # Refunded either way; its result, if any, is never delivered.
            with contextlib.suppress(ProviderError):
                await provider.cancel(Handle(id=row.provider_job_id, state=row.provider_state))
        return job_out(row)

    async def set_progress_message(self, user_id: UUID, job_id: UUID, message_id: int) -> None:
        async with self.db.service() as session:
            await session.execute(
                text(
                    "UPDATE ai.jobs SET progress_message_id = :m"
                    " WHERE id = :id AND user_id = :user_id"
                ),
                {"m": message_id, "id": job_id, "user_id": user_id},
            )

    async def media_of(self, user_id: UUID, job_id: UUID, index: int) -> tuple[bytes, str]:
        """The bytes and MIME type of a result; raises GenerationNotFound."""
        async with self.db.user(user_id) as session:
            row = await get_row(session, user_id, job_id)
        outputs = row.outputs or []
        if row.status != "succeeded" or not 0 <= index < len(outputs):
            raise GenerationNotFound("no such result")
        mime = str(outputs[index]["mime"])
        try:
            return await self.media.read(job_id, index, mime), mime
        except FileNotFoundError:
            raise GenerationNotFound("the result is gone") from None

    async def close(self) -> None:
        """Close the providers' HTTP clients (those that have one)."""
        for provider in self.providers.values():
            close = getattr(provider, "close", None)
            if close is not None:
                await close()

    def catalog(self, decimals: int = 6) -> list[ModelOut]:
        return [
            ModelOut(
                id=spec.id,
                kind=spec.kind,
                title=spec.title,
                price=str(spec.price),
                asset=DEFAULT_ASSET,
                decimals=decimals,
                params=params_schema(spec.kind),
            )
            for spec in self.models.models.values()
        ]
