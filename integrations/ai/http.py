"""What every HTTP provider adapter shares: one session, status codes mapped to our errors."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from services.generation.providers import (
    Final,
    InvalidInput,
    OutOfCredit,
    OutputExpired,
    ProviderError,
    Retryable,
    Unanswered,
    Unavailable,
)

TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)
MAX_OUTPUT_BYTES = 256 * 1024 * 1024


def retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def request_json(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    """(status, parsed body or None); transport failures are Retryable, Unanswered when the
    request may have arrived."""
    try:
        async with session.request(method, url, timeout=TIMEOUT, **kwargs) as response:
            raw = await response.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            if response.status == 429:
                raise Retryable("rate limited", retry_after=retry_after(response.headers))
            return response.status, body
    except aiohttp.ClientConnectorError as exc:
        raise Retryable(f"transport: {type(exc).__name__}") from exc  # never reached it
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Unanswered(f"transport: {type(exc).__name__}") from exc


def classify(status: int, body: Any) -> ProviderError:
    """The error for a non-2xx answer no adapter rule claimed first."""
    if status == 402:
        return OutOfCredit("out of credit")
    if status in (401, 403):
        return Unavailable(f"refused: HTTP {status}")
    if status in (400, 404, 422):
        return InvalidInput(f"invalid request: HTTP {status}")
    if status == 408 or status >= 500:
        return Retryable(f"HTTP {status}")
    return ProviderError(f"HTTP {status}")


async def download(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> bytes:
    try:
        async with session.get(url, timeout=TIMEOUT, headers=headers) as response:
            if response.status in (403, 404, 410):
                raise OutputExpired(f"result gone: HTTP {response.status}")
            if response.status >= 400:
                raise Retryable(f"download: HTTP {response.status}")
            # A result larger than any real one is refused rather than held in memory.
            data = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > MAX_OUTPUT_BYTES:
                    raise Final(f"result larger than {MAX_OUTPUT_BYTES} bytes")
            return bytes(data)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Retryable(f"download: {type(exc).__name__}") from exc


class HttpClient:
    """One aiohttp session per adapter, opened on first use and closed with the process."""

    _session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class KeyedClient(HttpClient):
    """An adapter reached at `base` with one API key, polled every `poll_seconds` (each
    provider's own default, `default_poll_seconds`, unless told)."""

    default_poll_seconds: float = 5.0

    def __init__(
        self,
        base: str,
        key: str,
        *,
        poll_seconds: float | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.poll_seconds = self.default_poll_seconds if poll_seconds is None else poll_seconds
        self._key = key
        self._session = session
