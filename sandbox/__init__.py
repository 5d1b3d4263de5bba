"""A local fake Telegram: the Bot API server, the web chat and the Mini App's WebApp shim.

`botapi` speaks the protocol, `state` remembers chats, files and payments, `webchat` is the page
a person uses, `local` runs it all beside the platform when there is no BOT_TOKEN.
"""
