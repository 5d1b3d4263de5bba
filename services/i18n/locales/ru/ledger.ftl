### Balances, history, transfers and the admins' grant/revoke.

commands-balance = Баланс токенов
commands-send = Отправить токены
commands-history = Последние операции
ledger-balance_title = <b>Ваш баланс</b>
ledger-balance_line = { $asset }: <b>{ $available }</b>
ledger-balance_line_held = { $asset }: <b>{ $available }</b> (заблокировано: { $pending })
ledger-history_title = <b>Последние операции</b>
ledger-history_empty = Операций пока нет.
ledger-history_in = ⬇️ +{ $amount } { $asset } · { $who }
ledger-history_out = ⬆️ −{ $amount } { $asset } · { $who }
ledger-status-pending = заблокировано
ledger-status-voided = отменено
ledger-status-expired = истекло
ledger-code-welcome_bonus = приветственный бонус
ledger-code-grant = начислено командой
ledger-code-revoke = списано командой
ledger-code-p2p_fee = комиссия за перевод
send-usage =
    Формат: <code>/send @username 10.5 [АКТИВ] [комментарий]</code>
    Без актива отправляется VIBE.
send-confirm =
    Отправить <b>{ $amount } { $asset }</b> пользователю <b>{ $recipient }</b>?
    Комиссия: { $fee } { $asset }.
send-confirm_button = ✅ Подтвердить
send-cancel_button = ✖️ Отмена
send-done = Отправлено <b>{ $amount } { $asset }</b> пользователю <b>{ $recipient }</b>. Комиссия: { $fee } { $asset }.
send-cancelled = Перевод отменён.
send-received = Вы получили <b>{ $amount } { $asset }</b> от <b>{ $sender }</b>.
send-received_memo = Вы получили <b>{ $amount } { $asset }</b> от <b>{ $sender }</b>: { $memo }
# CLDR: one (1, 21, 101), few (2–4, 22–24), many (0, 5–20, 25–30), other (fractions).
send-received_summary =
    Вы получили <b>{ $count }</b> { $count ->
        [one] перевод
        [few] перевода
        [many] переводов
       *[other] перевода
    } на сумму <b>{ $total }</b> от <b>{ $senders }</b>.
send-received_summary_more =
    Вы получили <b>{ $count }</b> { $count ->
        [one] перевод
        [few] перевода
        [many] переводов
       *[other] перевода
    } на сумму <b>{ $total }</b> от <b>{ $senders }</b> и ещё { $others }.
admin-refused = Эта команда только для администраторов.
admin-grant_usage = Формат: <code>/grant @username 10 VIBE причина</code>
admin-revoke_usage = Формат: <code>/revoke @username 10 VIBE причина</code>
admin-grant_done = Начислено <b>{ $amount } { $asset }</b> пользователю { $recipient }.
admin-revoke_done = Списано <b>{ $amount } { $asset }</b> у пользователя { $recipient }.
ledger-grant_notice = Команда начислила вам <b>{ $amount } { $asset }</b>. Причина: { $reason }
ledger-revoke_notice = Команда списала с вашего баланса <b>{ $amount } { $asset }</b>. Причина: { $reason }
error-insufficient_funds = Недостаточно средств.
error-recipient_not_found = Я не знаю { $recipient }. Пусть сначала запустит бота.
error-recipient_banned = Этот пользователь не может получать переводы.
error-self_transfer = Нельзя отправить токены самому себе.
error-amount_below_minimum = Минимальный перевод — { $minimum } { $asset }.
error-daily_limit_exceeded = Это превысит ваш дневной лимит в { $limit } { $asset }.
error-invalid_amount = «{ $amount }» — не сумма. Пишите так: 10 или 10.5.
error-too_many_decimals =
    У этого актива только { $decimals } { $decimals ->
        [one] знак
        [few] знака
        [many] знаков
       *[other] знака
    } после запятой.
error-amount_too_large = Слишком большая сумма.
error-asset_not_found = Неизвестный актив: { $asset }.
error-asset_not_transferable = { $asset } нельзя переводить другим пользователям.
# «не больше» takes the genitive: 1 и 21 символа, 2 и 5 символов.
error-memo_too_long =
    Комментарий слишком длинный (не больше { $max } { $max ->
        [one] символа
       *[other] символов
    }).
error-invalid_recipient = «{ $recipient }» — это не @имя и не Telegram id.
error-invalid_memo = В комментарии есть символы, которые нельзя отправить.
error-metadata_too_large = Комментарий слишком длинный.
error-request_already_confirmed = Этот перевод уже отправлен.
error-request_already_cancelled = Этот перевод был отменён.
error-request_expired = Подтверждение устарело. Отправьте /send ещё раз.
error-request_not_found = Запрос на перевод не найден.
error-admin_only = Эта команда только для администраторов.
error-account_not_found = Счёт не найден.
error-exists_with_different_fields = Эта операция уже выполнена с другими параметрами.
error-idempotency_key_reused = Этот запрос уже был отправлен с другими параметрами.
admin-amount_too_large = Отказано: за один раз можно начислить не больше { $max } { $asset }.
admin-supply_exceeded = Отказано: выпущенных { $asset } станет больше максимума в { $max } { $asset }. Сначала спишите лишнее или начислите меньше.
admin-revoke_short = У { $recipient } доступно только { $available } { $asset }: остальное потрачено или заблокировано. Спишите не больше этого.
