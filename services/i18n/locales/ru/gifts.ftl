### Подарки: прямые подарки, подарочные ссылки, красные конверты.

gifts-received = 🎁 <b>{ $sender }</b> прислал(а) вам подарок: <b>{ $amount } { $asset }</b>. «{ $message }»
gifts-received_plain = 🎁 <b>{ $sender }</b> прислал(а) вам подарок: <b>{ $amount } { $asset }</b>.
gifts-claimed = 🎁 Вы получили подарок: <b>{ $amount } { $asset }</b>.
gifts-claimed_message = 🎁 Вы получили подарок: <b>{ $amount } { $asset }</b>. «{ $message }»
gifts-claimed_notice = 🎁 <b>{ $claimer }</b> получил(а) <b>{ $amount } { $asset }</b> из вашего подарка.

error-gift_unavailable = Этот подарок недоступен: его уже забрали, отменили или срок истёк.
error-gift_already_claimed = Вы уже получили этот подарок.
error-gift_not_for_you = Этот подарок предназначен другому человеку.
error-own_gift = Это ваш собственный подарок. Его можно отменить.
error-gift_not_found = Такого подарка нет.
error-gift_not_cancellable = Этот подарок уже нельзя отменить.
error-invalid_shares = В каждой доле должна быть хотя бы одна единица (не больше 100 долей).
error-invalid_gift = Подарок задан неверно: прямому подарку нужен получатель, у красного конверта его нет.

## Раздел «Подарки» в Mini App.
miniapp-gift-tab = Подарки
miniapp-gift-title = Подарочная ссылка
miniapp-gift-kind = Вид
miniapp-gift-kind_link = Ссылка (одному человеку)
miniapp-gift-kind_packet = Красный конверт (нескольким)
miniapp-gift-amount = Сумма
miniapp-gift-shares = Доли
miniapp-gift-split = Деление
miniapp-gift-split_equal = Поровну
miniapp-gift-split_random = Случайно
miniapp-gift-button = Создать подарок
miniapp-gift-created = Подарок на { $amount } { $asset } создан
miniapp-gift-link_once = Забрать подарок может любой, у кого есть ссылка. Поделитесь ею сейчас или позже в любом чате: наберите @имя бота и «gift». Невостребованные подарки вернутся к вам по истечении срока.
miniapp-gift-share = Поделиться в Telegram
miniapp-gift-yours = Ваши подарки
miniapp-gift-none = Подарков пока нет.
miniapp-gift-cancel = Отменить
miniapp-gift-status_open = Ждёт получателя
miniapp-gift-status_claimed = Получен
miniapp-gift-status_cancelled = Отменён
miniapp-gift-status_expired = Истёк
miniapp-gift-status_sent = Отправлен

## Инлайн-режим: @bot gift 10 [АКТИВ] [сообщение]. Тексты кнопок — не длиннее 64 символов.
gifts-inline_link_title = 🎁 Подарочная ссылка: { $amount } { $asset }
gifts-inline_packet_title = 🧧 Красный конверт { $amount } { $asset }, осталось долей: { $left } из { $shares }
gifts-inline_description = Отправить с кнопкой «Забрать»
gifts-inline_link_message = 🎁 <b>{ $sender }</b> дарит вам <b>{ $amount } { $asset }</b>. Нажмите «Забрать».
gifts-inline_packet_message = 🧧 <b>{ $sender }</b> делится красным конвертом: <b>{ $amount } { $asset }</b>, долей: { $shares }. Нажмите «Забрать».
gifts-inline_note = «{ $message }»
gifts-inline_claim = 🎁 Забрать
gifts-inline_make = 🎁 Создать подарочную ссылку
gifts-inline_create = 🎁 Создать подарок: { $amount } { $asset }
gifts-inline_bad_amount = ⚠️ Не сумма: пишите так: gift 10 { $asset }
gifts-inline_too_many_decimals = ⚠️ У { $asset } не больше { $decimals } знаков после точки
gifts-inline_too_large = ⚠️ Слишком много { $asset } для одного подарка
gifts-inline_bad_asset = ⚠️ { $asset } нельзя подарить
gifts-inline_long_message = ⚠️ Сообщение слишком длинное: не больше { $max } символов

## Mini App: просмотр подарка по ссылке startapp=gift_… и отправка ссылки.
miniapp-gift-claim_title = Подарок для вас
miniapp-gift-claim_from = От { $sender }
miniapp-gift-claim_packet = Красный конверт { $amount } { $asset }: осталось долей { $left } из { $shares }
miniapp-gift-claim_button = Забрать
miniapp-gift-claimed = Вы получили { $amount } { $asset }
miniapp-gift-copied = Ссылка скопирована
miniapp-gift-shared = Отправлено
error-share_unavailable = Поделиться из приложения сейчас нельзя — скопируйте ссылку.
