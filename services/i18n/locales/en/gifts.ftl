### Gifts: direct gifts, gift links, red packets.

gifts-received = 🎁 <b>{ $sender }</b> sent you a gift: <b>{ $amount } { $asset }</b>. “{ $message }”
gifts-received_plain = 🎁 <b>{ $sender }</b> sent you a gift: <b>{ $amount } { $asset }</b>.
gifts-claimed = 🎁 You claimed a gift: <b>{ $amount } { $asset }</b>.
gifts-claimed_message = 🎁 You claimed a gift: <b>{ $amount } { $asset }</b>. “{ $message }”

error-gift_unavailable = This gift is not available: it was claimed, cancelled or has expired.
error-gift_already_claimed = You have already claimed this gift.
error-gift_not_for_you = This gift is meant for someone else.
error-own_gift = This is your own gift. You can cancel it instead.
error-gift_not_found = There is no such gift.
error-gift_not_cancellable = This gift can no longer be cancelled.
error-invalid_shares = Every share needs at least one unit (at most 100 shares).
error-invalid_gift = This gift is not valid: a direct gift needs a recipient, a red packet has none.
