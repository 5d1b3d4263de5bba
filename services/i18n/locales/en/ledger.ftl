### Balances, history, transfers and the admins' grant/revoke.

commands-balance = Your token balance
commands-send = Send tokens to someone
commands-history = Your recent transactions
ledger-balance_title = <b>Your balance</b>
ledger-balance_line = { $asset }: <b>{ $available }</b>
ledger-balance_line_held = { $asset }: <b>{ $available }</b> (on hold: { $pending })
ledger-history_title = <b>Recent transactions</b>
ledger-history_empty = No transactions yet.
ledger-history_in = ⬇️ +{ $amount } { $asset } · { $who }
ledger-history_out = ⬆️ −{ $amount } { $asset } · { $who }
ledger-status-pending = on hold
ledger-status-voided = cancelled
ledger-status-expired = expired
ledger-code-welcome_bonus = welcome bonus
ledger-code-grant = granted by the team
ledger-code-revoke = revoked by the team
ledger-code-p2p_fee = transfer fee
send-usage =
    Usage: <code>/send @username 10.5 [ASSET] [note]</code>
    The asset is VIBE unless you name another one.
send-confirm =
    Send <b>{ $amount } { $asset }</b> to <b>{ $recipient }</b>?
    Fee: { $fee } { $asset }.
send-confirm_button = ✅ Confirm
send-cancel_button = ✖️ Cancel
send-done = Sent <b>{ $amount } { $asset }</b> to <b>{ $recipient }</b>. Fee: { $fee } { $asset }.
send-cancelled = Transfer cancelled.
send-received = You received <b>{ $amount } { $asset }</b> from <b>{ $sender }</b>.
send-received_memo = You received <b>{ $amount } { $asset }</b> from <b>{ $sender }</b>: { $memo }
# Many "you received" notices to one chat, sent as one message. $count is a number, so it
# picks the plural form and is written with this language's digit grouping.
send-received_summary =
    You received <b>{ $count }</b> { $count ->
        [one] transfer
       *[other] transfers
    } totalling <b>{ $total }</b> from <b>{ $senders }</b>.
send-received_summary_more =
    You received <b>{ $count }</b> { $count ->
        [one] transfer
       *[other] transfers
    } totalling <b>{ $total }</b> from <b>{ $senders }</b> and { $others } more.
admin-refused = This command is for admins only.
admin-grant_usage = Usage: <code>/grant @username 10 VIBE reason</code>
admin-revoke_usage = Usage: <code>/revoke @username 10 VIBE reason</code>
admin-grant_done = Granted <b>{ $amount } { $asset }</b> to { $recipient }.
admin-revoke_done = Revoked <b>{ $amount } { $asset }</b> from { $recipient }.
ledger-grant_notice = The team credited you <b>{ $amount } { $asset }</b>. Reason: { $reason }
ledger-revoke_notice = The team debited <b>{ $amount } { $asset }</b> from your balance. Reason: { $reason }
error-insufficient_funds = Not enough funds for this.
error-recipient_not_found = I don't know { $recipient }. They need to start the bot first.
error-recipient_banned = This user cannot receive transfers.
error-self_transfer = You cannot send tokens to yourself.
error-amount_below_minimum = The smallest transfer is { $minimum } { $asset }.
error-daily_limit_exceeded = This would exceed your daily limit of { $limit } { $asset }.
error-invalid_amount = “{ $amount }” is not an amount. Write it like 10 or 10.5.
error-too_many_decimals =
    This asset has only { $decimals } { $decimals ->
        [one] digit
       *[other] digits
    } after the point.
error-amount_too_large = This amount is too large.
error-asset_not_found = Unknown asset: { $asset }.
error-asset_not_transferable = { $asset } cannot be sent to other users.
error-memo_too_long =
    The note is too long (at most { $max } { $max ->
        [one] character
       *[other] characters
    }).
error-invalid_recipient = “{ $recipient }” is not a @username or a Telegram id.
error-invalid_memo = The note contains characters that cannot be sent.
error-metadata_too_large = The note is too long.
error-request_already_confirmed = This transfer has already been sent.
error-request_already_cancelled = This transfer was cancelled.
error-request_expired = This confirmation has expired. Please use /send again.
error-request_not_found = This transfer request was not found.
error-admin_only = This command is for admins only.
error-account_not_found = The account was not found.
error-exists_with_different_fields = This operation was already done with different details.
error-idempotency_key_reused = This request was already made with different details.
admin-amount_too_large = Refused: at most { $max } { $asset } can be granted at a time.
admin-supply_exceeded = Refused: the issued { $asset } would exceed the maximum supply of { $max } { $asset }. Revoke first or grant less.
admin-revoke_short = { $recipient } has only { $available } { $asset } available: the rest is spent or on hold. Revoke at most that.
