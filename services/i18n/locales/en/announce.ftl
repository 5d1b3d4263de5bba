### Announcements (admins): /announce and /announce_status.

announce-usage =
    Send <code>/announce</code> followed by the text, formatted as you like.
    Optionally a language first (<code>/announce ru …</code>) and a button on the last line:
    <code>button: Label | https://example.com</code>
announce-preview = Preview below. It goes to { $audience } { $audience ->
        [one] user
       *[other] users
    } (language: { $lang }) and to every open Mini App. Confirm?
announce-confirm_button = Send to everyone
announce-cancel_button = Cancel
announce-confirmed = Announcement confirmed: Mini Apps have it now, chats get it at Telegram's pace.
announce-cancelled = Announcement cancelled.
announce-status_none = No announcement has been sent yet.
announce-status =
    <b>Last announcement</b>
    Audience: { $audience }
    Sent: { $sent }
    Failed: { $failed }
    Blocked the bot: { $blocked }
    Remaining: { $remaining }
error-invalid_announcement = This announcement cannot be sent: check the text, the button and the language.
error-announcement_already_decided = This announcement was already confirmed or cancelled.
