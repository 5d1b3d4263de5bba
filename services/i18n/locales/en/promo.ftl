### Promo codes: /redeem, /start promo_<CODE>, /promo_create, /promo_stats.

commands-redeem = Redeem a promo code
promo-usage = Send <code>/redeem CODE</code> to redeem a promo code.
promo-redeemed = Promo code <b>{ $code }</b> redeemed: you received <b>{ $amount } { $asset }</b>.
promo-create_usage =
    Usage: <code>/promo_create CODE amount ASSET [max_uses] [per_user] [expires]</code>
    expires: 7d, 12h or 2027-01-31.
promo-created = Promo code <b>{ $code }</b> created: { $amount } { $asset } × { $uses }, budget { $budget } { $asset } reserved.
promo-stats_usage = Usage: <code>/promo_stats CODE</code>
promo-stats = <b>{ $code }</b>: { $used } of { $uses } used, { $paid } of { $budget } { $asset } paid, active: { $active }.
promo-active_yes = yes
promo-active_no = no

error-promo_unavailable = This promo code is not valid, has been used up or is not available to you.
error-invalid_promo_code = A promo code is 3 to 32 letters, digits, _ or -.
error-promo_code_taken = This promo code exists already.
error-invalid_promo_terms = These promo code terms are not valid.
error-promo_not_found = There is no such promo code.
