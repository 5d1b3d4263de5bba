### Gifts: direct gifts, gift links, red packets.

gifts-received = 🎁 <b>{ $sender }</b> sent you a gift: <b>{ $amount } { $asset }</b>. “{ $message }”
gifts-received_plain = 🎁 <b>{ $sender }</b> sent you a gift: <b>{ $amount } { $asset }</b>.
gifts-claimed = 🎁 You claimed a gift: <b>{ $amount } { $asset }</b>.
gifts-claimed_message = 🎁 You claimed a gift: <b>{ $amount } { $asset }</b>. “{ $message }”
gifts-claimed_notice = 🎁 <b>{ $claimer }</b> claimed <b>{ $amount } { $asset }</b> of your gift.

error-gift_unavailable = This gift is not available: it was claimed, cancelled or has expired.
error-gift_already_claimed = You have already claimed this gift.
error-gift_not_for_you = This gift is meant for someone else.
error-own_gift = This is your own gift. You can cancel it instead.
error-gift_not_found = There is no such gift.
error-gift_not_cancellable = This gift can no longer be cancelled.
error-invalid_shares = Every share needs at least one unit (at most 100 shares).
error-invalid_gift = This gift is not valid: a direct gift needs a recipient, a red packet has none.

## The Mini App's Gift view.
miniapp-gift-tab = Gifts
miniapp-gift-title = Make a gift link
miniapp-gift-kind = Kind
miniapp-gift-kind_link = Gift link (one person)
miniapp-gift-kind_packet = Red packet (several people)
miniapp-gift-amount = Total amount
miniapp-gift-shares = Shares
miniapp-gift-split = Split
miniapp-gift-split_equal = Equal
miniapp-gift-split_random = Random
miniapp-gift-button = Create gift
miniapp-gift-created = Gift of { $amount } { $asset } created
miniapp-gift-link_once = Anyone with the link can claim the gift. Share it now, or later in any chat: type the bot’s @name and “gift”. Unclaimed gifts return to you when they expire.
miniapp-gift-share = Share in Telegram
miniapp-gift-yours = Your gifts
miniapp-gift-none = No gifts yet.
miniapp-gift-cancel = Cancel
miniapp-gift-status_open = Waiting to be claimed
miniapp-gift-status_claimed = Claimed
miniapp-gift-status_cancelled = Cancelled
miniapp-gift-status_expired = Expired
miniapp-gift-status_sent = Sent

## Inline mode: @bot gift 10 [ASSET] [message]. Button texts stay within 64 characters.
gifts-inline_link_title = 🎁 { $amount } { $asset } gift link
gifts-inline_packet_title = 🧧 { $amount } { $asset } red packet, { $left } of { $shares } shares left
gifts-inline_description = Send it with a Claim button
gifts-inline_link_message = 🎁 <b>{ $sender }</b> sends you a gift: <b>{ $amount } { $asset }</b>. Tap Claim to take it.
gifts-inline_packet_message = 🧧 <b>{ $sender }</b> shares a red packet: <b>{ $amount } { $asset }</b> in { $shares } shares. Tap Claim to take yours.
gifts-inline_note = “{ $message }”
gifts-inline_claim = 🎁 Claim
gifts-inline_make = 🎁 Make a gift link
gifts-inline_create = 🎁 Make a gift link of { $amount } { $asset }
gifts-inline_bad_amount = ⚠️ Not an amount: write it like gift 10 { $asset }
gifts-inline_too_many_decimals = ⚠️ { $asset } has at most { $decimals } decimals
gifts-inline_too_large = ⚠️ Too much for one gift of { $asset }
gifts-inline_bad_asset = ⚠️ { $asset } cannot be gifted
gifts-inline_long_message = ⚠️ The message is too long: { $max } characters at most

## The Mini App's claim view (opened by a startapp=gift_… link) and sharing.
miniapp-gift-claim_title = A gift for you
miniapp-gift-claim_from = From { $sender }
miniapp-gift-claim_packet = A red packet of { $amount } { $asset }: { $left } of { $shares } shares left
miniapp-gift-claim_button = Claim
miniapp-gift-claimed = You claimed { $amount } { $asset }
miniapp-gift-copied = Link copied
miniapp-gift-shared = Sent
error-share_unavailable = Sharing from the app is not available right now; copy the link instead.
