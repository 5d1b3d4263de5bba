### Пакеты токенов за Telegram Stars: /buy, оплата, возвраты.

commands-buy = Купить VIBE за Telegram Stars
purchases-packs = <b>Купить VIBE</b> за Telegram Stars. Выберите пакет:
purchases-pack_button = { $vibe } VIBE за { $stars } ⭐
purchases-invoice_title = { $vibe } VIBE
purchases-invoice_description = { $vibe } токенов VIBE на ваш баланс Good Vibe за { $stars } Telegram Stars.
purchases-credited = Оплата получена: <b>+{ $vibe } VIBE</b> на вашем балансе. Спасибо!
purchases-credit_delayed = Оплата получена. VIBE поступят на баланс в течение нескольких минут; платить ещё раз не нужно.
purchases-debt_settled = { $vibe } VIBE из них погасили долг, оставшийся после прежнего возврата.
purchases-refunded = Ваши Stars возвращены; { $vibe } VIBE списаны с баланса.
purchases-refunded_debt = Ваши Stars возвращены; { $vibe } VIBE списаны с баланса, а { $debt } VIBE, которые вы уже потратили, остаются долгом: его первой погасит следующая покупка.
purchases-refund_usage = Формат: /refund &lt;charge id&gt; [force]
purchases-refund_spent =
    Возврат { $charge_id } отклонён: покупка начислила { $vibe } VIBE, у покупателя осталось { $available } VIBE (уже потрачено { $shortfall } VIBE).
    Отправьте /refund { $charge_id } force, чтобы вернуть всё равно и записать { $shortfall } VIBE как долг, который погасит следующая покупка.
purchases-refund_done = Возврат { $charge_id }: списано { $reversed } VIBE, долг { $debt } VIBE, отменено реферальных наград: { $voided }.

error-pack_not_found = Этот пакет больше не продаётся. Откройте /buy, чтобы увидеть пакеты.
error-invalid_invoice = Этот платёж не соответствует ни одному нашему счёту.
error-price_changed = Цена пакета изменилась. Откройте /buy, чтобы увидеть текущую цену.
error-not_the_buyer = Этот счёт выставлен другому человеку.
error-buyer_banned = Ваш аккаунт заблокирован, покупать токены нельзя.
error-purchase_not_found = Покупки с таким charge id нет.
error-already_refunded = Эта покупка уже возвращена.
error-tokens_spent = Покупатель уже потратил часть этих токенов.
error-stars_unavailable = Оплата сейчас недоступна. Попробуйте позже.
error-telegram_unavailable = Telegram сейчас недоступен. Попробуйте через минуту.
error-refund_failed = Telegram отказал в возврате: { $reason }

## Экран «Купить» в мини-приложении.
miniapp-buy-tab = Купить
miniapp-buy-title = Купить VIBE за Stars
miniapp-buy-balance = Ваш баланс
miniapp-buy-hint = Оплата Telegram Stars; токены сразу поступают на баланс.
miniapp-buy-pack = { $vibe } VIBE за { $stars } ⭐
miniapp-buy-status_paid = Оплачено. Спасибо!
miniapp-buy-status_cancelled = Оплата отменена.
miniapp-buy-status_failed = Оплата не прошла.
miniapp-buy-status_pending = Платёж обрабатывается…
miniapp-tx-stars_purchase = Покупка за Stars
miniapp-tx-stars_refund = Возврат Stars
miniapp-tx-refund_debt = Долг за возврат
