### P2P-биржа: /market, /offer, /offers, /fill, уведомление продавцу и ошибки.

commands-market = Биржевой стакан
commands-offer = Обменять токены на другие
commands-offers = Ваши предложения
commands-fill = Взять предложение из стакана

market-usage =
    <b>Биржа</b>: пользователи обмениваются токенами по своей цене.
    /market VIBE USDT — стакан пары
    /offer 100 VIBE 25 USDT — продать 100 VIBE за 25 USDT
    /offers — ваши предложения
    /fill ID 2.5 — взять 2.5 из предложения (или кнопка «Взять» под стаканом)
market-pairs_title = <b>Открытые стаканы</b>
market-pair_line = { $sell } → { $buy }: { $count } { $count ->
        [one] предложение
        [few] предложения
       *[many] предложений
    }
market-no_offers = Открытых предложений пока нет.
market-book_title = <b>{ $base }/{ $quote }</b>, цена в { $quote } за { $base }
market-asks_title = <b>Продают { $base }</b> (лучшие сверху)
market-bids_title = <b>Покупают { $base }</b> (лучшие сверху)
market-book_line = { $price } · осталось { $amount } { $asset }
market-side_empty = нет
market-offer_usage = Напишите так: <code>/offer 100 VIBE 25 USDT</code> (продать 100 VIBE за 25 USDT) или с минимальной сделкой в конце: <code>/offer 100 VIBE 25 USDT 10</code>.
market-offer_created = Предложение открыто: <b>{ $sell_amount } { $sell_asset }</b> за <b>{ $buy_amount } { $buy_asset }</b>. { $sell_asset } зарезервированы, пока предложение не исполнят, не отменят или не истечёт срок.
market-offers_title = <b>Ваши открытые предложения</b>
market-offers_line = { $index }. { $remaining } из { $sell_amount } { $sell_asset } за { $buy_amount } { $buy_asset }
market-offers_none = У вас нет открытых предложений. Создайте его командой /offer.
market-cancel_button = Отменить { $index }
market-cancelled = Предложение отменено: { $amount } { $asset } вернулись на баланс.
market-filled_notice = Ваше предложение исполнено: продано <b>{ $amount } { $sell_asset }</b> за <b>{ $paid } { $buy_asset }</b>. Осталось в предложении: { $remaining } { $sell_asset }.
market-take_button = Взять { $amount } { $asset } за { $pay_asset }
market-fill_usage = Напишите так: <code>/fill ID_ПРЕДЛОЖЕНИЯ 2.5</code>, чтобы взять 2.5 того, что продаёт предложение, или <code>/fill ID_ПРЕДЛОЖЕНИЯ</code>, чтобы взять всё, что осталось. Кнопки «Взять» под /market VIBE USDT показывают id.
market-fill_confirm = Взять <b>{ $amount } { $sell_asset }</b> за <b>{ $paid } { $buy_asset }</b>? Вы получите { $received } { $sell_asset } (комиссия { $fee } { $sell_asset }).
    Чтобы взять меньше: <code>/fill { $offer_id } СУММА</code>
market-fill_confirm_button = Подтвердить
market-fill_cancel_button = Отмена
market-fill_dropped = Ничего не взято.
market-fill_too_large = Эту сумму нельзя подтвердить в чате; воспользуйтесь Mini App.
market-filled = Готово: получено { $received } { $sell_asset } за { $paid } { $buy_asset } (комиссия { $fee } { $sell_asset }). Осталось в предложении: { $remaining } { $sell_asset }.

ledger-code-market_offer = предложение на бирже
ledger-code-market_fill = куплено на бирже
ledger-code-market_fee = комиссия биржи

error-market_same_asset = Предложение должно обменивать один токен на другой.
error-asset_not_tradable = Этот токен нельзя продавать на бирже.
error-invalid_min_fill = Минимальная сделка должна быть от одной единицы до всей суммы предложения.
error-too_many_open_offers = У вас уже { $max } открытых предложений. Отмените одно, чтобы создать новое.
error-offer_not_found = Предложение не найдено.
error-offer_not_open = Это предложение уже закрыто.
error-self_trade = Нельзя исполнить собственное предложение.
error-fill_exceeds_offer = В предложении осталось меньше. Обновите его и попробуйте меньшую сумму.
error-fill_below_minimum = Это меньше минимальной сделки этого предложения.
error-offer_maker_banned = Автор этого предложения заблокирован, исполнить его нельзя.

miniapp-market-tab = Биржа
miniapp-market-title = Стакан
miniapp-market-base = Токен
miniapp-market-quote = Цена в
miniapp-market-asks = Продают { $base }
miniapp-market-bids = Покупают { $base }
miniapp-market-empty = Предложений нет.
miniapp-market-row = { $price } { $quote } · осталось { $amount } { $asset }
miniapp-market-mine = ваше
miniapp-market-fill = Взять
miniapp-market-fill_confirm = Взять { $amount } { $asset } за { $paid } { $pay_asset }?
miniapp-market-filled_title = Готово
miniapp-market-filled = Получено { $received } { $asset } за { $paid } { $pay_asset } (комиссия { $fee } { $asset })
miniapp-market-need_amount = Введите сумму в { $asset } (не больше { $decimals } знаков после запятой).
miniapp-market-offer_title = Новое предложение
miniapp-market-sell = Продать
miniapp-market-sell_amount = Сколько продать
miniapp-market-buy = За
miniapp-market-buy_amount = Сколько получить за всё
miniapp-market-offer_button = Предложить
miniapp-market-offer_confirm = Предложить { $sell_amount } { $sell_asset } за { $buy_amount } { $buy_asset }? { $sell_asset } будут зарезервированы, пока предложение не исполнят, не отменят или не истечёт срок.
miniapp-market-offer_open_title = Предложение открыто
miniapp-market-offer_open = { $sell_amount } { $sell_asset } за { $buy_amount } { $buy_asset }
miniapp-market-my_title = Ваши открытые предложения
miniapp-market-my_row = { $remaining } { $sell_asset } за { $buy_amount } { $buy_asset } всего
miniapp-market-cancel = Отменить
miniapp-market-cancelled_title = Предложение отменено
miniapp-market-cancelled = { $amount } { $asset } вернулись на баланс
