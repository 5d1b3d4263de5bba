"""Sign Mini App initData the way Telegram's clients receive it, for a local bot token."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


def sign_init_data(
    bot_token: str,
    user: dict[str, Any],
    *,
    auth_date: int | None = None,
    query_id: str | None = None,
    start_param: str | None = None,
) -> str:
    fields: dict[str, str] = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
    }
    if query_id is not None:
        fields["query_id"] = query_id
    if start_param is not None:
        fields["start_param"] = start_param
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
