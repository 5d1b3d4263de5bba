### AI generation: orders, progress and results.

error-model_not_found = There is no such model.
error-invalid_generation_params = Some parameters are not valid for this model.
error-invalid_prompt = Describe what to make in 1 to 1000 characters.
error-generation_daily_quota = You have reached today's limit for this kind of generation. Try again tomorrow.
error-generation_too_many_jobs = You already have generations in progress. Wait for one to finish.
error-generation_budget_exhausted = Generation is paused for today. Please try again tomorrow.
error-generation_not_found = There is no such generation.
error-generation_finished = This generation has already finished.
error-generation_key_reused = This request key was already used for another order.
generation-progress = Generating… { $progress }%
generation-button-cancel = Cancel
generation-button-again = Again
generation-failed = The generation failed: { $reason } Your tokens were refunded.
generation-cancelled = The generation was cancelled. Your tokens were refunded.
generation-reason-moderated = the provider refused this prompt.
generation-reason-invalid_input = the request was not accepted.
generation-reason-no_provider = no provider can make it right now.
generation-reason-timeout = it took too long.
generation-reason-provider_busy = the providers are overloaded.
generation-reason-provider_failed = the provider failed.
generation-reason-generation_failed = the provider failed.
generation-reason-output_expired = the result could not be downloaded.
generation-reason-cancelled = cancelled.
