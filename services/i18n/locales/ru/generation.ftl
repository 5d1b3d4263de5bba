### ИИ-генерация: заказы, прогресс и результаты.

error-model_not_found = Такой модели нет.
error-invalid_generation_params = Некоторые параметры не подходят для этой модели.
error-invalid_prompt = Опишите, что создать, от 1 до 1000 символов.
error-generation_daily_quota = Дневной лимит генераций этого вида исчерпан. Попробуйте завтра.
error-generation_too_many_jobs = У вас уже есть генерации в работе. Дождитесь завершения одной из них.
error-generation_budget_exhausted = Генерация на сегодня приостановлена. Попробуйте завтра.
error-generation_not_found = Такой генерации нет.
error-generation_finished = Эта генерация уже завершена.
error-generation_key_reused = Этот ключ запроса уже использован для другого заказа.
generation-progress = Генерация… { $progress }%
generation-button-cancel = Отменить
generation-button-again = Ещё раз
generation-failed = Генерация не удалась: { $reason } Токены возвращены.
generation-cancelled = Генерация отменена. Токены возвращены.
generation-reason-moderated = провайдер отклонил этот запрос.
generation-reason-invalid_input = запрос не принят.
generation-reason-no_provider = сейчас ни один провайдер не может это сделать.
generation-reason-timeout = это заняло слишком много времени.
generation-reason-provider_busy = провайдеры перегружены.
generation-reason-provider_failed = сбой у провайдера.
generation-reason-generation_failed = сбой у провайдера.
generation-reason-output_expired = результат не удалось скачать.
generation-reason-cancelled = отменена.
