### Объявления (администраторы): /announce и /announce_status.

announce-usage =
    Отправьте <code>/announce</code> и текст с любым оформлением.
    Можно указать язык первым словом (<code>/announce ru …</code>) и кнопку последней строкой:
    <code>button: Надпись | https://example.com</code>
announce-preview = Предпросмотр ниже. Получат { $audience } { $audience ->
        [one] пользователь
        [few] пользователя
       *[many] пользователей
    } (язык: { $lang }) и все открытые Mini App. Отправить?
announce-confirm_button = Отправить всем
announce-cancel_button = Отмена
announce-confirmed = Объявление подтверждено: Mini App уже показывают его, чаты получат в темпе Telegram.
announce-cancelled = Объявление отменено.
announce-status_none = Объявлений ещё не было.
announce-status =
    <b>Последнее объявление</b>
    Аудитория: { $audience }
    Отправлено: { $sent }
    Ошибки: { $failed }
    Заблокировали бота: { $blocked }
    Осталось: { $remaining }
error-invalid_announcement = Это объявление нельзя отправить: проверьте текст, кнопку и язык.
error-announcement_already_decided = Это объявление уже подтверждено или отменено.
