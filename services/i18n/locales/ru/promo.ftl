### Промокоды: /redeem, /start promo_<CODE>, /promo_create, /promo_stats.

commands-redeem = Активировать промокод
promo-usage = Отправьте <code>/redeem КОД</code>, чтобы активировать промокод.
promo-redeemed = Промокод <b>{ $code }</b> активирован: вы получили <b>{ $amount } { $asset }</b>.
promo-create_usage =
    Формат: <code>/promo_create КОД сумма АКТИВ [max_uses] [per_user] [срок]</code>
    срок: 7d, 12h или 2027-01-31.
promo-created = Промокод <b>{ $code }</b> создан: { $amount } { $asset } × { $uses }, зарезервирован бюджет { $budget } { $asset }.
promo-stats_usage = Формат: <code>/promo_stats КОД</code>
promo-stats = <b>{ $code }</b>: использован { $used } из { $uses }, выплачено { $paid } из { $budget } { $asset }, активен: { $active }.
promo-active_yes = да
promo-active_no = нет

error-promo_unavailable = Этот промокод недействителен, исчерпан или вам недоступен.
error-invalid_promo_code = Промокод — от 3 до 32 латинских букв, цифр, _ или -.
error-promo_code_taken = Такой промокод уже есть.
error-invalid_promo_terms = Условия промокода заданы неверно.
error-promo_not_found = Такого промокода нет.
