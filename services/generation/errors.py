"""Errors of AI generation orders, each with its own code (texts in `generation.ftl`)."""

from __future__ import annotations

from services.errors import Conflict, NotFound, RateLimited, ValidationError


class ModelNotFound(NotFound):
    code = "model_not_found"


class InvalidParams(ValidationError):
    code = "invalid_generation_params"


class InvalidPrompt(ValidationError):
    code = "invalid_prompt"


class DailyQuotaExceeded(RateLimited):
    code = "generation_daily_quota"


class TooManyJobs(RateLimited):
    code = "generation_too_many_jobs"


class BudgetExhausted(RateLimited):
    code = "generation_budget_exhausted"


class GenerationNotFound(NotFound):
    code = "generation_not_found"


class GenerationFinished(Conflict):
    code = "generation_finished"


class GenerationKeyReused(Conflict):
    code = "generation_key_reused"
