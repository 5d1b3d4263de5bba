"""Without BOT_TOKEN the platform still signs and checks Mini App initData, with a local token.

It is kept in DATA_DIR so initData signed by the local sandbox stays valid across restarts.
"""

from __future__ import annotations

import secrets
from pathlib import Path

LOCAL_BOT_ID = 7000000001


def local_bot_token(data_dir: Path) -> str:
    path = data_dir / "local_bot_token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = f"{LOCAL_BOT_ID}:{secrets.token_urlsafe(26)}"
    path.write_text(token)
    path.chmod(0o600)
    return token
