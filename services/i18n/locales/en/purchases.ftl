### Token packs for Telegram Stars: /buy, the payment, refunds.

commands-buy = Buy VIBE with Telegram Stars
purchases-packs = <b>Buy VIBE</b> with Telegram Stars. Choose a pack:
purchases-pack_button = { $vibe } VIBE for { $stars } ⭐
purchases-invoice_title = { $vibe } VIBE
purchases-invoice_description = { $vibe } VIBE tokens for your Good Vibe balance, for { $stars } Telegram Stars.
purchases-credited = Payment received: <b>+{ $vibe } VIBE</b> are on your balance. Thank you!
purchases-credit_delayed = Payment received. Your VIBE will be on your balance within a few minutes; there is no need to pay again.
purchases-debt_settled = { $vibe } VIBE of it went to the balance an earlier refund left owing.
purchases-refunded = Your Stars were refunded; { $vibe } VIBE were taken back from your balance.
purchases-refunded_debt = Your Stars were refunded; { $vibe } VIBE were taken back from your balance and { $debt } VIBE you had already spent are owed: your next purchase settles them first.
purchases-refund_usage = Usage: /refund &lt;charge id&gt; [force]
purchases-refund_spent =
    Refund of { $charge_id } refused: the purchase credited { $vibe } VIBE, the buyer has { $available } VIBE left ({ $shortfall } VIBE already spent).
    Send /refund { $charge_id } force to refund anyway and record { $shortfall } VIBE as a debt their next purchase settles.
purchases-refund_done = Refunded { $charge_id }: { $reversed } VIBE taken back, { $debt } VIBE recorded as debt, { $voided } referral rewards voided.

error-pack_not_found = This pack is not sold any more. Open /buy to see the packs.
error-invalid_invoice = This payment does not match any of our invoices.
error-price_changed = The price of this pack changed. Open /buy for the current price.
error-not_the_buyer = This invoice was made for someone else.
error-buyer_banned = Your account is blocked, so it cannot buy tokens.
error-purchase_not_found = There is no purchase with this charge id.
error-already_refunded = This purchase was already refunded.
error-tokens_spent = The buyer already spent part of these tokens.
error-stars_unavailable = Payments are not available right now. Please try again later.
error-telegram_unavailable = Telegram cannot be reached right now. Please try again in a minute.
error-refund_failed = Telegram refused the refund: { $reason }

## The Mini App's Buy view.
miniapp-buy-tab = Buy
miniapp-buy-title = Buy VIBE with Stars
miniapp-buy-balance = Your balance
miniapp-buy-hint = Pay with Telegram Stars; the tokens arrive on your balance at once.
miniapp-buy-pack = { $vibe } VIBE for { $stars } ⭐
miniapp-buy-status_paid = Paid. Thank you!
miniapp-buy-status_cancelled = Payment cancelled.
miniapp-buy-status_failed = The payment did not go through.
miniapp-buy-status_pending = The payment is being processed…
miniapp-tx-stars_purchase = Stars purchase
miniapp-tx-stars_refund = Stars refund
miniapp-tx-refund_debt = Refund debt
