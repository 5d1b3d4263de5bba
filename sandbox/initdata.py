"""Sign Mini App initData the way Telegram's clients receive it: the HMAC `hash` for the bot
(from its token) and, since Bot API 8.0, the Ed25519 `signature` for third parties.

Telegram signs `<bot_id>:WebAppData\\n` + the sorted `key=value` lines (without `hash` and
`signature`) with its own Ed25519 key; the sandbox does the same with a key it keeps in
DATA_DIR and publishes. The `hash` then covers every field but itself, `signature` included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(
        f"{key}={fields[key]}" for key in sorted(fields) if key not in ("hash", "signature")
    )


def sign_init_data(
    bot_token: str,
    user: dict[str, Any],
    *,
    auth_date: int | None = None,
    query_id: str | None = None,
    start_param: str | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> str:
    """Without `signing_key` the data carries only the HMAC `hash` (as before Bot API 8.0)."""
    fields: dict[str, str] = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
    }
    if query_id is not None:
        fields["query_id"] = query_id
    if start_param is not None:
        fields["start_param"] = start_param
    if signing_key is not None:
        bot_id = bot_token.split(":", 1)[0]
        message = f"{bot_id}:WebAppData\n{_check_string(fields)}".encode()
        signature = base64.urlsafe_b64encode(signing_key.sign(message)).rstrip(b"=")
        fields["signature"] = signature.decode()
    check_string = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


# Where the sandbox keeps its signing key, inside DATA_DIR.
KEY_FILE = "sandbox_ed25519_key"


def public_key_hex(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in hex, the form Telegram publishes its own keys in."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The sandbox's key, made on first use and kept (owner-only) so initData it signed stays
    valid, and its published public key stays the same, across restarts."""
    if path.exists():
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))
        except ValueError:
            pass  # a damaged key file: make a new key, as on first use
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    # Created owner-only, so the private key is never readable by others, not even briefly.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (the API role) made it a moment ago
        return load_signing_key(path)
    with os.fdopen(descriptor, "w") as file:
        file.write(key.private_bytes_raw().hex())
    return key
