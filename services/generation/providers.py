"""The small interface every AI provider adapter implements, owned by this service.

A provider is asked to `submit` a job and answers a handle (its own job id plus whatever it
needs to find the job again, e.g. BFL's `polling_url`), which the worker records before doing
anything else; `status` reads the job back by that handle; `cancel` asks it to stop;
`parse_webhook` turns a verified callback into the handle it concerns. Failures are one of the
exceptions below, so the worker decides by class: retry, fall back, or stop.

`JobRequest.job_id` is our reference for one submit (the job id and its try): recorded before
the call, the same when a submit is resumed after a crash, and handed to the provider wherever
its protocol carries a client value back (a callback URL, midjourney-proxy's `state`). A
provider that can tell whether a reference was submitted implements `FindsSubmissions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from services.generation.catalog import Kind


@dataclass(frozen=True)
class JobRequest:
    job_id: str
    kind: Kind
    # The provider's name for the model (catalog `targets`), "" when it has one only.
    target: str
    prompt: str
    params: Mapping[str, Any]
    webhook_url: str | None = None


@dataclass(frozen=True)
class Handle:
    id: str
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Output:
    """A result: at a URL to download at once (they expire), or the bytes themselves."""

    mime: str
    url: str | None = None
    data: bytes | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class JobStatus:
    state: Literal["queued", "running", "succeeded"]
    progress: int = 0
    outputs: tuple[Output, ...] = ()
    # What the provider charged, USD micro-units, when it says.
    cost: int | None = None


@dataclass(frozen=True)
class WebhookEvent:
    delivery_id: str
    job_id: str
    # Our submit reference, when the provider echoes one (midjourney-proxy's `state`).
    reference: str | None = None


class ProviderError(Exception):
    """`code` is ours (stable, shown to the user through `generation-failed-<code>`)."""

    code = "provider_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Retryable(ProviderError):
    """Timeouts, 5xx, 429 with Retry-After, throttling: the same call again later."""

    code = "provider_busy"


class Unanswered(Retryable):
    """The request may have reached the provider but no answer came (a timeout, a dropped
    connection): a read may be repeated, a submit must not be, blind."""


class Unavailable(ProviderError):
    """Out of credit, a retired model, a bad key: this provider cannot make this model now;
    fall back to the next one."""

    code = "provider_unavailable"


class OutOfCredit(Unavailable):
    code = "out_of_credit"


class ModelRetired(Unavailable):
    code = "model_retired"


class Final(ProviderError):
    """The job itself cannot be made (moderation, invalid input): no retry, no fallback."""

    code = "generation_failed"


class Moderated(Final):
    code = "moderated"


class InvalidInput(Final):
    code = "invalid_input"


class JobLost(ProviderError):
    """The provider failed the job or no longer knows it: submit it again (counted)."""

    code = "provider_failed"


class OutputExpired(ProviderError):
    """A result URL no longer answers; a fresh status may carry a new one."""

    code = "output_expired"


class WebhookRejected(Exception):
    """A callback that is not the provider's (bad signature, stale, malformed)."""


class Provider(Protocol):
    name: str
    # Whether it calls back (`parse_webhook`); otherwise the worker polls.
    webhooks: bool
    poll_seconds: float

    async def submit(self, request: JobRequest) -> Handle: ...

    async def status(self, handle: Handle) -> JobStatus: ...

    async def cancel(self, handle: Handle) -> None: ...

    async def download(self, output: Output) -> bytes: ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


@runtime_checkable
class FindsSubmissions(Protocol):
    async def find(self, request: JobRequest) -> Handle | None:
        """The job an earlier submit of this request's reference made, or None when the
        provider knows none (then submitting it is safe)."""
        ...
