### Start, help, language and the bot's general messages.

language-name = Русский
commands-start = Запустить бота и открыть приложение
commands-help = Что умеет этот бот
commands-language = Выбрать язык
start-welcome =
    Привет, <b>{ $name }</b>! Добро пожаловать в <b>Good Vibe Live</b> — создавайте изображения, музыку и видео с помощью ИИ, оплачивая токенами VIBE.

    Нажмите кнопку ниже, чтобы открыть приложение.
start-open_app = Открыть приложение
start-payload_unknown = Эта ссылка больше не действует, но вы с нами. Добро пожаловать!
help-text =
    <b>Good Vibe Live</b>

    /start — открыть приложение
    /help — это сообщение
    /language — выбрать язык

    Всё остальное — в приложении: генерации, баланс, рефералы и подарки.
language-choose = Выберите язык:
language-set = Готово: буду говорить с вами по-русски.
banned = Ваш доступ к Good Vibe Live приостановлен. Если это ошибка, напишите в поддержку.
error-generic = У нас что-то пошло не так. Попробуйте ещё раз через минуту.
error-rate_limited = Слишком много запросов. Пожалуйста, помедленнее.
notify-test = { $text }
