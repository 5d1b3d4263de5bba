"""The generation worker: each step claims due jobs (`FOR UPDATE SKIP LOCKED` and a short
lease), moves each one state forward, and commits what it learnt before the next call out.

A step is one of: submit to the first usable provider of the model (its job id recorded at
once), read the provider's status (progress, or the result downloaded and the hold posted, or
the failure classified), or deliver a finished job to its chat. A worker killed at any point
leaves a row whose lease runs out; the next step resumes from what was recorded. Decisions are
`UPDATE … WHERE status IN ('queued', 'running')`, so a job finishes once, is billed once, and
a cancel that wins the race is never overwritten.

The crash window: a submit is recorded (provider, reference = job id + try, time) and committed
before the provider is called, and cleared when its answer is recorded. A step that finds it
still set on a job with no provider job id knows a worker died (or a submit timed out) between
the call and the record, so the provider may hold a job we never heard of. It never submits
blind to that provider again:
- a provider that can be asked (`FindsSubmissions`: the local one) is asked by the reference,
  and the job it names is followed; if it knows none, the submit is made again;
- a provider that calls back with our reference (webhooks: the reference rides in the callback
  URL, and in midjourney-proxy's `state`) gets `submit_grace_seconds` for a callback to bind
  the job (services/generation/webhooks.py);
- otherwise (BFL, Runway, Veo: no client reference, no list to search) the submit is recorded
  as an `unknown` attempt with the estimated cost (we may have been billed), that provider is
  excluded for the job and the next one in the model's order makes it. The user's hold is
  still one, posted or voided once: a crash can cost us a second provider call, never the user
  a second charge. With no provider left, the job fails as `submit_unknown` and is refunded.

Provider calls are retried in place by tenacity (Retry-After honoured, short), wrapped in a
purgatory circuit breaker per provider: an open circuit, an out-of-credit or a retired model
moves the job to the next provider in the model's order; moderation and invalid input stop it.
Any other error in a step counts as a retryable failure, so the tries run out and the job is
refunded; and a job past its deadline is failed before any provider is asked, so no provider
(failing, hanging, configured away) can keep a user's VIBE held.

Each claimed job steps in a task of its own, up to `batch` at once, and a slot that frees
claims again at once: a slow provider holds up its own jobs, not everyone's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from sqlalchemy import text
from sqlalchemy.engine import Row
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_base,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from db.database import Database, ServiceTx
from services.generation.catalog import ModelCatalog
from services.generation.delivery import ChatDelivery, DeliveryDeferred, Finished
from services.generation.media import MediaStore
from services.generation.providers import (
    Final,
    FindsSubmissions,
    Handle,
    JobLost,
    JobRequest,
    JobStatus,
    Output,
    OutputExpired,
    Provider,
    ProviderError,
    Retryable,
    Unanswered,
    Unavailable,
)
from services.generation.service import job_out, publish_job, refund
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, transfer_id
from services.referrals.config import ReferralConfig
from services.referrals.rewards import REWARD_SHARDS, hold_transfers, plan_rewards, record_rewards

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerConfig:
    batch: int = 8
    lease_seconds: float = 60.0
    idle_seconds: float = 0.5
    # In-place retries of one provider call and the most they wait.
    call_attempts: int = 3
    max_wait: float = 10.0
    # Steps that failed retryably before the job is failed and refunded.
    max_tries: int = 8
    # The first wait between steps that failed retryably; doubled each time, at most 60 s.
    retry_seconds: float = 2.0
    # A job without a result this long after it started is failed and refunded.
    deadlines: Mapping[str, float] | None = None
    progress_edit_seconds: float = 3.0
    public_base_url: str | None = None
    breaker_threshold: int = 5
    breaker_ttl: float = 30.0
    # How long a submit cut off by a crash may wait for a provider's callback to name its job.
    submit_grace_seconds: float = 120.0
    # The wait before a result the chat could not take yet (Telegram 5xx) is sent again.
    deliver_retry_seconds: float = 15.0


DEFAULT_DEADLINES = {"image": 600.0, "music": 900.0, "video": 1800.0}

_CLAIM = text(
    "UPDATE ai.jobs j SET lease_until = now() + make_interval(secs => :lease)"
    " FROM (SELECT id FROM ai.jobs"
    "        WHERE next_step_at <= now() AND (lease_until IS NULL OR lease_until < now())"
    "          AND (status IN ('queued', 'running')"
    "               OR (:deliver AND delivered_at IS NULL AND chat_id IS NOT NULL))"
    "          AND id <> ALL(CAST(:busy AS uuid[]))"
    "        ORDER BY next_step_at LIMIT :n FOR UPDATE SKIP LOCKED) due"
    " WHERE j.id = due.id RETURNING j.*"
)
_MARK = text(
    "UPDATE ai.jobs SET submit_provider = :provider, submit_ref = :ref, submit_at = now()"
    " WHERE id = :id AND status IN ('queued', 'running') AND provider_job_id IS NULL"
    " RETURNING id"
)
_RECORD = text(
    "UPDATE ai.jobs SET provider = :provider, provider_job_id = :pid,"
    " submit_provider = NULL, submit_ref = NULL, submit_at = NULL,"
    " provider_state = CAST(:state AS jsonb), status = 'running',"
    " started_at = coalesce(started_at, now()),"
    " next_step_at = now() + make_interval(secs => :wait),"
    " lease_until = NULL WHERE id = :id AND status IN ('queued', 'running') RETURNING *"
)
_PROGRESS = text(
    "UPDATE ai.jobs SET progress = greatest(progress, :progress),"
    " next_step_at = now() + make_interval(secs => :wait), lease_until = NULL"
    " WHERE id = :id AND status = 'running' RETURNING progress"
)
_LATER = text(
    "UPDATE ai.jobs SET tries = tries + :tried,"
    " next_step_at = now() + make_interval(secs => :wait),"
    " lease_until = NULL, excluded = excluded || CAST(:exclude AS text[]),"
    " provider = CASE WHEN :forget THEN NULL ELSE provider END,"
    " submit_provider = CASE WHEN :clear THEN NULL ELSE submit_provider END,"
    " submit_ref = CASE WHEN :clear THEN NULL ELSE submit_ref END,"
    " provider_job_id = CASE WHEN :forget THEN NULL ELSE provider_job_id END"
    " WHERE id = :id AND status IN ('queued', 'running') RETURNING tries"
)
_SUCCEED = text(
    "UPDATE ai.jobs SET status = 'succeeded', progress = 100, outputs = CAST(:outputs AS jsonb),"
    " cost_actual = :cost, finished_at = now(), next_step_at = now(), lease_until = NULL"
    " WHERE id = :id AND status IN ('queued', 'running') RETURNING *"
)
_FAIL = text(
    "UPDATE ai.jobs SET status = 'failed', error_code = :code, error_message = :message,"
    " cost_actual = cost_actual + :cost, finished_at = now(), next_step_at = now(),"
    " lease_until = NULL WHERE id = :id AND status IN ('queued', 'running') RETURNING *"
)
_ATTEMPT = text(
    "INSERT INTO ai.attempts (job_id, provider, model, provider_job_id, outcome, error_class,"
    " error_code, latency_ms, cost) VALUES (:job_id, :provider, :model, :pid, :outcome,"
    " :error_class, :error_code, :latency_ms, :cost)"
)
# What free credits (promo codes, the welcome bonus) of the job's asset still cover, recorded
# on the job: credited to the user in all, less what earlier succeeded jobs counted.
_FREE_CREDITS = text(
    "WITH free AS (SELECT coalesce(sum(t.amount), 0) AS got FROM tokens.transfers t"
    "               JOIN tokens.accounts a ON a.id = t.credit_account_id"
    "              WHERE a.user_id = :user AND a.asset = :asset AND t.result = 'ok'"
    "                AND t.kind = 'single' AND t.code IN ('promo', 'welcome_bonus')),"
    " used AS (SELECT coalesce(sum(promo_covered), 0) AS spent FROM ai.jobs"
    "           WHERE user_id = :user AND asset = :asset AND status = 'succeeded' AND id <> :id)"
    " UPDATE ai.jobs j SET promo_covered = least(j.price, greatest(0, free.got - used.spent))"
    " FROM free, used WHERE j.id = :id RETURNING j.promo_covered"
)
_DELIVERED = text(
    "UPDATE ai.jobs SET delivered_at = now(), lease_until = NULL"
    " WHERE id = :id AND delivered_at IS NULL"
)
_DELIVER_LATER = text(
    "UPDATE ai.jobs SET next_step_at = now() + make_interval(secs => :wait), lease_until = NULL"
    " WHERE id = :id AND delivered_at IS NULL"
)
_SHOWN = text("UPDATE ai.jobs SET progress_shown_at = now() WHERE id = :id")


def _wait(max_wait: float) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(max=max_wait, jitter=0.5)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(max_wait, exc.retry_after)
        return float(backoff(state))

    return wait


class Worker:
    def __init__(
        self,
        db: Database,
        catalog: ModelCatalog,
        providers: Mapping[str, Provider],
        media: MediaStore,
        config: WorkerConfig,
        delivery: ChatDelivery | None = None,
        referrals: ReferralConfig | None = None,
    ) -> None:
        self.db = db
        # With `on_ai_spend`, a posted job pays its spender's upline (REFERRAL_ON_AI_SPEND).
        self.referrals = referrals if referrals is not None and referrals.on_ai_spend else None
        self.catalog = catalog
        self.providers = providers
        self.media = media
        self.config = config
        self.delivery = delivery
        self.deadlines = config.deadlines or DEFAULT_DEADLINES
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=config.breaker_threshold,
            default_ttl=config.breaker_ttl,
            # Only the provider's health opens its circuit, never a refused prompt.
            exclude=[Final, Unavailable, JobLost, OutputExpired],
        )

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Step claimed jobs in tasks of their own, up to `batch` at once, claiming again as
        soon as one finishes. On `stop` the steps in flight finish; cancelled, they are too."""
        steps: dict[UUID, asyncio.Task[None]] = {}
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                # Never this worker's jobs in flight: a step outlives its lease, or hands the
                # job back (its last commit) a moment before its task ends.
                for row in await self._claim_logged(self.config.batch - len(steps), steps):
                    steps[row.id] = asyncio.create_task(self._step_logged(row))
                full = len(steps) >= self.config.batch
                done, _ = await asyncio.wait(
                    {stopped, *steps.values()},
                    timeout=None if full else self.config.idle_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                steps = {job: task for job, task in steps.items() if task not in done}
            await asyncio.gather(*steps.values())
        finally:
            stopped.cancel()
            for task in steps.values():
                task.cancel()
            await asyncio.gather(stopped, *steps.values(), return_exceptions=True)

    async def run_once(self) -> int:
        """Claim due jobs and move each one step; the number claimed."""
        rows = await self._claim(self.config.batch, ())
        await asyncio.gather(*(self._step_logged(row) for row in rows))
        return len(rows)

    async def _claim_logged(self, n: int, busy: Collection[UUID]) -> Sequence[Row[Any]]:
        if n <= 0:
            return ()
        try:
            return await self._claim(n, busy)
        except Exception:
            log.exception("generation claim failed")
            return ()

    async def _claim(self, n: int, busy: Collection[UUID]) -> Sequence[Row[Any]]:
        async with self.db.service() as session:
            return (
                await session.execute(
                    _CLAIM,
                    {
                        "lease": self.config.lease_seconds,
                        "n": n,
                        "deliver": self.delivery is not None,
                        "busy": list(busy),
                    },
                )
            ).all()

    async def _step_logged(self, row: Row[Any]) -> None:
        try:
            await self.step(row)
        except Exception as exc:
            log.exception("generation job %s: step failed", row.id)
            if row.status not in ("queued", "running"):
                return  # a delivery: the lease runs out and a later step tries again
            # Counted like a provider's retryable failure, so a step that always fails ends
            # in a refund. The mark of a submit stays: its answer is unknown.
            try:
                await self._retry(row, exc, clear=False)
            except Exception:
                log.exception("generation job %s: could not record the failure", row.id)

    async def step(self, row: Row[Any]) -> None:
        if row.status not in ("queued", "running"):
            await self._deliver(row)
        elif self._overdue(row):
            await self._expire(row)
        elif row.provider_job_id is None:
            await self._submit(row)
        else:
            await self._follow(row)

    # --- submit -------------------------------------------------------------------------

    async def _submit(self, row: Row[Any]) -> None:
        if row.submit_ref is not None:
            await self._resume_submit(row)
            return
        spec = self.catalog.models.get(row.model)
        order = spec.providers if spec is not None else ("local",)
        for name in order:
            provider = self.providers.get(name)
            if provider is None or name in row.excluded:
                continue
            request = self._request(row, name, provider)
            if not await self._mark(row, name, request.job_id):
                return  # cancelled meanwhile
            began = time.monotonic()
            try:
                handle = await self._call(name, partial(provider.submit, request), submit=True)
            except OpenedState:
                continue  # never called: the next provider's mark replaces this one
            except Unanswered as exc:
                # It may have arrived: the mark stays, the next step resumes it.
                await self._attempt(row, name, None, "retry", exc, began)
                await self._later(row, wait=0, tried=1, clear=False)
                return
            except Unavailable as exc:
                await self._attempt(row, name, None, "fallback", exc, began)
                await self._later(row, wait=0, tried=0, exclude=name, forget=True)
                return
            except Final as exc:
                await self._attempt(row, name, None, "failed", exc, began)
                await self._fail(row, exc.code, str(exc))
                return
            except ProviderError as exc:
                await self._attempt(row, name, None, "retry", exc, began)
                await self._retry(row, exc)
                return
            await self._record(row, name, provider, handle)
            return
        await self._fail(row, "no_provider", "no provider can make this model now")

    async def _mark(self, row: Row[Any], name: str, reference: str) -> bool:
        """Record the submit about to be made, committed before the call: a crash from here on
        is seen by the next step. One autocommit statement where the pool has them. False:
        the job is no longer waiting for a submit (cancelled meanwhile)."""
        values = {"provider": name, "ref": reference, "id": row.id}
        if self.db.statement_engine is not None:
            async with self.db.statement() as conn:
                return (await conn.execute(_MARK, values)).first() is not None
        async with self.db.service() as session:
            return (await session.execute(_MARK, values)).first() is not None

    def _request(self, row: Row[Any], name: str, provider: Provider) -> JobRequest:
        spec = self.catalog.models.get(row.model)
        # The reference of this submit; a resumed one (same try) carries the same.
        reference = row.submit_ref or f"{row.id}-{row.tries}"
        return JobRequest(
            job_id=reference,
            kind=row.kind,
            target=(spec.targets.get(name, "") if spec else ""),
            prompt=row.prompt,
            params=row.params,
            webhook_url=self._webhook_url(provider, reference),
        )

    async def _record(self, row: Row[Any], name: str, provider: Provider, handle: Handle) -> None:
        """The provider's job id, before anything else: from here on a restart asks about it."""
        async with self.db.service() as session:
            updated = (
                await session.execute(
                    _RECORD,
                    {
                        "provider": name,
                        "pid": handle.id,
                        "state": json.dumps(dict(handle.state)),
                        "wait": provider.poll_seconds,
                        "id": row.id,
                    },
                )
            ).one_or_none()
            if updated is not None:
                await publish_job(session, row.user_id, job_out(updated))
        if updated is None:  # cancelled meanwhile
            await self._cancel_at(name, handle)
        elif updated.chat_id is not None and self.delivery is not None:
            await self.delivery.working(updated.chat_id, updated.kind)

    async def _resume_submit(self, row: Row[Any]) -> None:
        """A submit was marked but its answer never recorded (the module's "crash window")."""
        name = str(row.submit_provider)
        provider = self.providers.get(name)
        began = time.monotonic()
        if provider is not None and isinstance(provider, FindsSubmissions):
            request = self._request(row, name, provider)
            try:
                found = await self._call(name, partial(provider.find, request))
            except OpenedState:
                await self._later(row, wait=self.config.breaker_ttl, tried=0, clear=False)
                return
            except ProviderError as exc:
                await self._attempt(row, name, None, "retry", exc, began)
                await self._later(row, wait=self.config.retry_seconds, tried=1, clear=False)
                return
            if found is not None:
                await self._record(row, name, provider, found)
            else:  # the provider never got it: submitting is safe
                await self._later(row, wait=0, tried=0)
            return
        waited = (datetime.now(UTC) - row.submit_at).total_seconds()
        if (
            provider is not None
            and self._webhook_url(provider, "") is not None
            and waited < self.config.submit_grace_seconds
        ):
            # A callback with our reference binds the job; the step after the grace decides.
            left = self.config.submit_grace_seconds - waited
            await self._later(row, wait=min(left, 10.0), tried=0, clear=False)
            return
        log.warning("generation job %s: the submit to %s is unknown after a crash", row.id, name)
        await self._attempt(row, name, None, "unknown", None, began, cost=int(row.cost_estimate))
        spec = self.catalog.models.get(row.model)
        order = spec.providers if spec is not None else ("local",)
        others = [n for n in order if n in self.providers and n != name and n not in row.excluded]
        if others:
            await self._later(row, wait=0, tried=0, exclude=name, forget=True)
        else:
            await self._fail(row, "submit_unknown", "the provider's answer to our order was lost")

    def _webhook_url(self, provider: Provider, reference: str) -> str | None:
        base = self.config.public_base_url
        if not provider.webhooks or not base:
            return None
        # The reference rides back with every callback (services/generation/webhooks.py).
        return f"{base.rstrip('/')}/webhooks/ai/{provider.name}?ref={quote(reference)}"

    async def _call(
        self, name: str, call: Callable[[], Awaitable[T]], *, submit: bool = False
    ) -> T:
        """`submit`: an answer that may have been lost (Unanswered) is not repeated in place."""
        breaker = await self.breakers.get_breaker(name)
        retry: retry_base = retry_if_exception_type(Retryable)
        if submit:
            retry = retry & retry_if_not_exception_type(Unanswered)
        async with breaker:
            async for attempt in AsyncRetrying(
                retry=retry,
                stop=stop_after_attempt(self.config.call_attempts),
                wait=_wait(self.config.max_wait),
                reraise=True,
            ):
                with attempt:
                    return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    # --- follow -------------------------------------------------------------------------

    async def _follow(self, row: Row[Any]) -> None:
        name = row.provider
        provider = self.providers.get(name)
        if provider is None:
            # Configured away since the submit (a deploy may bring it back): the job waits,
            # until its deadline at most.
            await self._later(row, wait=self.config.idle_seconds * 10, tried=0)
            return
        handle = Handle(id=row.provider_job_id, state=row.provider_state)
        began = time.monotonic()
        try:
            status = await self._call(name, lambda: provider.status(handle))
            if status.state == "succeeded":
                files = await self._download(row, provider, status)
                await self._succeed(row, status, files, began)
                return
        except OpenedState:
            await self._later(row, wait=self.config.breaker_ttl, tried=0)
            return
        except Final as exc:
            await self._attempt(row, name, row.provider_job_id, "failed", exc, began)
            await self._fail(row, exc.code, str(exc))
            return
        except (Unavailable, JobLost) as exc:
            await self._attempt(row, name, row.provider_job_id, "fallback", exc, began)
            # A lost job is submitted again once; lost twice, the next provider gets it (each
            # submit may be billed to us, so never in a loop).
            exclude = name if isinstance(exc, Unavailable) or row.tries >= 1 else None
            await self._later(row, wait=0, tried=1, exclude=exclude, forget=True)
            return
        except ProviderError as exc:
            await self._attempt(row, name, row.provider_job_id, "retry", exc, began)
            await self._retry(row, exc)
            return
        async with self.db.service() as session:
            progress = await session.scalar(
                _PROGRESS,
                {"progress": status.progress, "wait": provider.poll_seconds, "id": row.id},
            )
            if progress is not None and progress != row.progress:
                job = job_out(row).model_copy(update={"progress": progress, "status": "running"})
                await publish_job(session, row.user_id, job)
        if progress is not None and progress != row.progress:
            await self._show_progress(row, int(progress))

    def _overdue(self, row: Row[Any]) -> bool:
        started = row.started_at or row.created_at
        limit = self.deadlines.get(row.kind, 1800.0)
        return bool((datetime.now(UTC) - started).total_seconds() > limit)

    async def _expire(self, row: Row[Any]) -> None:
        """Past its deadline: failed and refunded without asking the provider (which may be
        failing, hanging or gone), then told to stop."""
        name = row.provider or row.submit_provider
        if row.provider_job_id is not None:
            began = time.monotonic()
            await self._attempt(row, name, row.provider_job_id, "failed", None, began)
        failed = await self._fail(row, "timeout", "the provider did not finish in time")
        if failed and row.provider_job_id is not None:
            handle = Handle(id=row.provider_job_id, state=row.provider_state)
            await self._cancel_at(name, handle)

    async def _download(
        self, row: Row[Any], provider: Provider, status: JobStatus
    ) -> list[dict[str, Any]]:
        saved = []
        for index, output in enumerate(status.outputs):
            data = await provider.download(output)
            await self.media.save(row.id, index, output.mime, data)
            saved.append(_output_json(output, len(data)))
        return saved

    async def _succeed(
        self, row: Row[Any], status: JobStatus, files: list[dict[str, Any]], began: float
    ) -> None:
        cost = status.cost if status.cost is not None else int(row.cost_estimate)
        async with self.db.service() as session:
            done = (
                await session.execute(
                    _SUCCEED, {"outputs": json.dumps(files), "cost": cost, "id": row.id}
                )
            ).one_or_none()
            if done is None:
                return  # cancelled or finished meanwhile: decided once, paid once
            await self._attempt_in(
                session, row, row.provider, row.provider_job_id, "succeeded", None, began, cost
            )
            await publish_job(session, row.user_id, job_out(done))
            rewards = await self._referral_rewards(session, done)
            # Last: the batch locks the shared spend and rewards accounts until the commit.
            post = ResolveHold(
                id=transfer_id("ai-post", row.id), pending_id=row.hold_id, kind="post"
            )
            await apply(session, [post, *rewards])

    async def _referral_rewards(self, session: ServiceTx, job: Row[Any]) -> list[Transfer]:
        """Referral rewards on this job's spend, as a purchase pays them (REFERRAL_ON_AI_SPEND):
        reward ids from (ai:<job id>, level), so the job pays each level once. Runs only in
        the transaction that decided the success, so a retried post pays nothing more, and a
        refunded job (failed, cancelled) never gets here.

        Free credits (promo codes, the welcome bonus) earn nothing: they count as spent first,
        so the base is the price less what free credits still unspent by earlier jobs cover.
        Two of one user's jobs posted at the same instant may each count the same free credit:
        that pays less, never more."""
        if self.referrals is None:
            return []
        covered = int(
            await session.scalar(
                _FREE_CREDITS,
                {"id": job.id, "user": job.user_id, "asset": job.asset},
            )
            or 0
        )
        base = int(job.price) - covered
        if base <= 0:
            return []
        source = f"ai:{job.id}"
        planned = await plan_rewards(
            session, self.referrals, source=source, buyer_id=job.user_id, amount=base
        )
        await record_rewards(session, self.referrals, planned, source=source, buyer_id=job.user_id)
        return hold_transfers(planned, source, job.user_id.int % REWARD_SHARDS)

    async def _fail(self, row: Row[Any], code: str, message: str, cost: int = 0) -> bool:
        """False: the job was decided meanwhile (cancelled, finished), nothing refunded here."""
        async with self.db.service() as session:
            failed = (
                await session.execute(
                    _FAIL, {"code": code, "message": message[:500], "cost": cost, "id": row.id}
                )
            ).one_or_none()
            if failed is None:
                return False
            await refund(session, failed)
            await publish_job(session, row.user_id, job_out(failed))
            return True

    async def _retry(self, row: Row[Any], exc: Exception, *, clear: bool = True) -> None:
        """`exc`: a provider's retryable error, or one nobody expected (counted the same; its
        details stay in the log, as the message is shown to the user)."""
        known = exc if isinstance(exc, ProviderError) else ProviderError("an unexpected error")
        if row.tries + 1 >= self.config.max_tries:
            await self._fail(row, known.code, str(known))
            return
        backoff = min(60.0, self.config.retry_seconds * 2.0**row.tries)
        wait = known.retry_after if known.retry_after is not None else backoff
        await self._later(row, wait=wait, tried=1, clear=clear)

    async def _later(
        self,
        row: Row[Any],
        *,
        wait: float,
        tried: int,
        exclude: str | None = None,
        forget: bool = False,
        clear: bool = True,
    ) -> None:
        """`clear`: the submit mark goes (its answer is known); kept while it is not."""
        async with self.db.service() as session:
            await session.execute(
                _LATER,
                {
                    "tried": tried,
                    "wait": wait,
                    "exclude": [exclude] if exclude else [],
                    "forget": forget,
                    "clear": clear,
                    "id": row.id,
                },
            )

    async def _cancel_at(self, name: str, handle: Handle) -> None:
        provider = self.providers.get(name)
        if provider is None:
            return
        try:
            await provider.cancel(handle)
        except Exception as exc:
            # Only a courtesy to the provider: the job is decided and refunded already.
            log.warning("could not cancel %s job %s: %r", name, handle.id, exc)

    async def _attempt(
        self,
        row: Row[Any],
        provider: str,
        pid: str | None,
        outcome: str,
        exc: ProviderError | None,
        began: float,
        *,
        cost: int = 0,
    ) -> None:
        async with self.db.service() as session:
            await self._attempt_in(session, row, provider, pid, outcome, exc, began, cost)

    @staticmethod
    async def _attempt_in(
        session: ServiceTx,
        row: Row[Any],
        provider: str,
        pid: str | None,
        outcome: str,
        exc: ProviderError | None,
        began: float,
        cost: int,
    ) -> None:
        await session.execute(
            _ATTEMPT,
            {
                "job_id": row.id,
                "provider": provider,
                "model": row.model,
                "pid": pid,
                "outcome": outcome,
                "error_class": type(exc).__name__ if exc else None,
                "error_code": exc.code if exc else None,
                "latency_ms": int((time.monotonic() - began) * 1000),
                "cost": cost,
            },
        )

    # --- chat -----------------------------------------------------------------------------

    async def _show_progress(self, row: Row[Any], progress: int) -> None:
        if self.delivery is None or row.chat_id is None or row.progress_message_id is None:
            return
        shown = row.progress_shown_at
        if shown is not None and (
            (datetime.now(UTC) - shown).total_seconds() < self.config.progress_edit_seconds
        ):
            return
        await self.delivery.progress(
            row.chat_id, row.user_id, row.progress_message_id, row.id, progress
        )
        async with self.db.service() as session:
            await session.execute(_SHOWN, {"id": row.id})

    async def _deliver(self, row: Row[Any]) -> None:
        if self.delivery is None:
            return
        files = tuple(
            (self.media.path(row.id, n, o["mime"]), str(o["mime"]))
            for n, o in enumerate(row.outputs or [])
        )
        try:
            await self.delivery.finished(
                Finished(
                    job_id=row.id,
                    chat_id=row.chat_id,
                    user_id=row.user_id,
                    kind=row.kind,
                    status=row.status,
                    prompt=row.prompt,
                    model=row.model,
                    files=files,
                    error_code=row.error_code,
                    progress_message_id=row.progress_message_id,
                )
            )
        except DeliveryDeferred as exc:
            log.info("generation job %s: delivery deferred: %s", row.id, exc)
            wait = self.config.deliver_retry_seconds if exc.retry_after is None else exc.retry_after
            async with self.db.service() as session:
                await session.execute(_DELIVER_LATER, {"wait": wait, "id": row.id})
            return
        async with self.db.service() as session:
            await session.execute(_DELIVERED, {"id": row.id})


def _output_json(output: Output, size: int) -> dict[str, Any]:
    item: dict[str, Any] = {"mime": output.mime, "size": size}
    for key in ("width", "height", "duration"):
        value = getattr(output, key)
        if value is not None:
            item[key] = value
    return item
