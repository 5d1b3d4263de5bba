### Подарки: прямые подарки, подарочные ссылки, красные конверты.

gifts-received = 🎁 <b>{ $sender }</b> прислал(а) вам подарок: <b>{ $amount } { $asset }</b>. «{ $message }»
gifts-received_plain = 🎁 <b>{ $sender }</b> прислал(а) вам подарок: <b>{ $amount } { $asset }</b>.
gifts-claimed = 🎁 Вы получили подарок: <b>{ $amount } { $asset }</b>.
gifts-claimed_message = 🎁 Вы получили подарок: <b>{ $amount } { $asset }</b>. «{ $message }»

error-gift_unavailable = Этот подарок недоступен: его уже забрали, отменили или срок истёк.
error-gift_already_claimed = Вы уже получили этот подарок.
error-gift_not_for_you = Этот подарок предназначен другому человеку.
error-own_gift = Это ваш собственный подарок. Его можно отменить.
error-gift_not_found = Такого подарка нет.
error-gift_not_cancellable = Этот подарок уже нельзя отменить.
error-invalid_shares = В каждой доле должна быть хотя бы одна единица (не больше 100 долей).
error-invalid_gift = Подарок задан неверно: прямому подарку нужен получатель, у красного конверта его нет.
