"""A generation job as the doors show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[Status, ...] = ("queued", "running")


class OutputOut(BaseModel):
    url: str = Field(description="GET it with the same authorization; served byte for byte")
    mime: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class ErrorOut(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    id: UUID
    model: str
    kind: Literal["image", "music", "video"]
    prompt: str
    params: dict[str, Any]
    status: Status
    progress: int = Field(ge=0, le=100)
    outputs: list[OutputOut]
    error: ErrorOut | None
    price: str = Field(description="Held at order, posted on success, refunded otherwise")
    asset: str
    created_at: datetime
    finished_at: datetime | None


class ModelOut(BaseModel):
    id: str
    kind: Literal["image", "music", "video"]
    title: str
    price: str
    asset: str
    decimals: int
    params: dict[str, Any] = Field(description="JSON Schema of the model's parameters")
