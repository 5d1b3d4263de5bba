### Start, help, language and the bot's general messages.

language-name = English
commands-start = Start the bot and open the app
commands-help = What this bot can do
commands-language = Choose your language
start-welcome =
    Hi, <b>{ $name }</b>! Welcome to <b>Good Vibe Live</b> — create images, music and video with AI, paid with VIBE tokens.

    Tap the button below to open the app.
start-open_app = Open app
start-payload_unknown = This link is not valid any more, but you are in. Welcome!
help-text =
    <b>Good Vibe Live</b>

    /start — open the app
    /help — this message
    /language — choose your language

    Everything else lives in the app: generations, balance, referrals and gifts.
language-choose = Choose your language:
language-set = Done: I will speak English with you.
banned = Your access to Good Vibe Live is suspended. If you think this is a mistake, contact support.
error-generic = Something went wrong on our side. Please try again in a minute.
error-rate_limited = Too many requests. Please slow down a little.
notify-test = { $text }
