from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.initdata import sign_init_data
from services.errors import Unauthorized
from webapp_api.initdata import (
    TELEGRAM_PUBLIC_KEYS,
    InitDataCache,
    InitDataCheck,
    ThirdPartyKey,
    init_data_from_header,
    verify_init_data,
)

# The public test vector from the tma.js / init-data-python docs (reference/telegram.md §2).
VECTOR_TOKEN = "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"
VECTOR = (
    "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav"
    "%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22%3A"
    "%22ru%22%2C%22is_premium%22%3Atrue%7D&auth_date=1662771648"
    "&hash=c501b71e775f74ce10e377dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2"
)
VECTOR_TIME = datetime.fromtimestamp(1662771648, UTC) + timedelta(minutes=1)


def test_public_test_vector_validates() -> None:
    data = verify_init_data(VECTOR, bot_token=VECTOR_TOKEN, max_age=3600, now=VECTOR_TIME)
    assert data.user is not None and data.user.id == 279058397 and data.user.username == "vdkfrost"


def test_public_test_vector_is_expired_today() -> None:
    with pytest.raises(Unauthorized) as info:
        verify_init_data(VECTOR, bot_token=VECTOR_TOKEN, max_age=86400)
    assert info.value.code == "auth_expired"


def test_our_signer_matches_telegrams_algorithm() -> None:
    raw = sign_init_data(
        VECTOR_TOKEN, {"id": 5, "first_name": "Ann"}, auth_date=1662771648, query_id="q"
    )
    assert (
        verify_init_data(raw, bot_token=VECTOR_TOKEN, max_age=3600, now=VECTOR_TIME).query_id == "q"
    )


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "auth_missing"),
        ("", "auth_missing"),
        ("tma", "auth_malformed"),
        ("Basic x", "auth_malformed"),
    ],
)
def test_header_shapes(header: str | None, code: str) -> None:
    with pytest.raises(Unauthorized) as info:
        init_data_from_header(header)
    assert info.value.code == code


# --- Ed25519 `signature` (validating data for third-party use) ---------------------------------

# A known-answer case from aiogram's own tests (an independent implementation): this seed signs
# that initData for bot 42 with exactly this signature, Ed25519 being deterministic.
KAT_SEED = bytes.fromhex("c80e09dc60f5efcf2e1f8d0793358e0ea3371267bef0024588f7bf67cf48dfb9")
KAT_SIGNATURE = (
    "JQ0JR2tjC65yq_jNZV0wuJVX6J-SWPMV0mprUXG34g-NvxL4RcF1Rz5n4VVo00VRghEUBf5t___uoeb1-jU_Cw"
)
BOT_TOKEN = "7000000009:third-party-token"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def signed(key: Ed25519PrivateKey, *, auth_date: datetime = NOW, **kwargs: Any) -> str:
    return sign_init_data(
        BOT_TOKEN,
        {"id": 5, "first_name": "Ann"},
        auth_date=int(auth_date.timestamp()),
        signing_key=key,
        **kwargs,
    )


def third_party(key: Ed25519PrivateKey, bot_id: int = 7000000009) -> InitDataCheck:
    public = key.public_key().public_bytes_raw()
    return InitDataCheck(third_party=ThirdPartyKey(bot_id, public))


def test_telegrams_public_keys_are_the_documented_ones() -> None:
    assert TELEGRAM_PUBLIC_KEYS["production"].hex() == (
        "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
    )
    assert TELEGRAM_PUBLIC_KEYS["test"].hex() == (
        "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"
    )


def test_our_signer_gives_the_known_signature() -> None:
    raw = sign_init_data(
        "42:any",
        {"id": 42, "first_name": "Test"},
        auth_date=1650385342,
        query_id="test",
        signing_key=Ed25519PrivateKey.from_private_bytes(KAT_SEED),
    )
    fields = dict(parse_qsl(raw))
    assert fields["signature"] == KAT_SIGNATURE  # base64url, no padding


def test_signed_data_carries_both_and_the_hash_covers_the_signature() -> None:
    key = Ed25519PrivateKey.generate()
    raw = signed(key)
    assert {"hash", "signature"} <= dict(parse_qsl(raw)).keys()
    hmac_only = verify_init_data(raw, bot_token=BOT_TOKEN, max_age=60, now=NOW)
    assert hmac_only.user is not None and hmac_only.user.id == 5
    both = InitDataCheck(bot_token=BOT_TOKEN, third_party=third_party(key).third_party)
    assert verify_init_data(raw, max_age=60, now=NOW, check=both).user is not None
    # The hash covers `signature`: a different signature breaks the HMAC check.
    other = dict(parse_qsl(raw)) | {
        "signature": dict(parse_qsl(signed(key, query_id="q")))["signature"]
    }
    with pytest.raises(Unauthorized) as info:
        verify_init_data(urlencode(other), bot_token=BOT_TOKEN, max_age=60, now=NOW)
    assert info.value.code == "auth_bad_signature"


def test_ed25519_accepts_valid_data_without_the_token() -> None:
    key = Ed25519PrivateKey.generate()
    data = verify_init_data(
        signed(key, start_param="ref_1"), max_age=60, now=NOW, check=third_party(key)
    )
    assert data.user is not None and data.user.id == 5 and data.start_param == "ref_1"


def _code(raw: str, check: InitDataCheck, now: datetime = NOW) -> str:
    with pytest.raises(Unauthorized) as info:
        verify_init_data(raw, max_age=60, now=now, check=check)
    return info.value.code


def test_ed25519_refuses_tampered_expired_wrong_bot_and_wrong_key() -> None:
    key = Ed25519PrivateKey.generate()
    raw = signed(key)
    tampered = raw.replace("Ann", "Eve")
    assert _code(tampered, third_party(key)) == "auth_bad_signature"
    assert _code(raw, third_party(key), now=NOW + timedelta(seconds=61)) == "auth_expired"
    assert _code(raw, third_party(key, bot_id=7000000010)) == "auth_bad_signature"
    assert _code(raw, third_party(Ed25519PrivateKey.generate())) == "auth_bad_signature"
    production = InitDataCheck(
        third_party=ThirdPartyKey(7000000009, TELEGRAM_PUBLIC_KEYS["production"])
    )
    assert _code(raw, production) == "auth_bad_signature"
    garbled = urlencode(dict(parse_qsl(raw)) | {"signature": "!!not base64!!"})
    assert _code(garbled, third_party(key)) == "auth_bad_signature"
    unsigned = sign_init_data(
        BOT_TOKEN, {"id": 5, "first_name": "Ann"}, auth_date=int(NOW.timestamp())
    )
    assert _code(unsigned, third_party(key)) == "auth_malformed"


def test_both_needs_both() -> None:
    key = Ed25519PrivateKey.generate()
    raw = signed(key)
    both = InitDataCheck(bot_token=BOT_TOKEN, third_party=third_party(key).third_party)
    wrong_token = InitDataCheck(bot_token="7000000009:other", third_party=both.third_party)
    assert _code(raw, wrong_token) == "auth_bad_signature"
    wrong_key = InitDataCheck(
        bot_token=BOT_TOKEN, third_party=third_party(Ed25519PrivateKey.generate()).third_party
    )
    assert _code(raw, wrong_key) == "auth_bad_signature"
    without_hash = urlencode({k: v for k, v in parse_qsl(raw) if k != "hash"})
    assert _code(without_hash, both) == "auth_malformed"
    with pytest.raises(ValueError, match="needs a bot token"):
        InitDataCheck()


# --- InitDataCache: a verified string is not checked again, but its age is ----------------------


def test_the_cache_answers_a_verified_string_for_its_own_check_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache, check = InitDataCache(size=2), InitDataCheck(bot_token=BOT_TOKEN)
    issued = int(time.time())
    raw = sign_init_data(BOT_TOKEN, {"id": 5, "first_name": "Ann"}, auth_date=issued)
    first = cache.verify(raw, check, max_age=60)
    assert first.profile.telegram_id == 5 and cache.verify(raw, check, max_age=60) is first
    # Another check (another bot's token) verifies afresh, and refuses.
    with pytest.raises(Unauthorized) as info:
        cache.verify(raw, InitDataCheck(bot_token="7000000009:other"), max_age=60)
    assert info.value.code == "auth_bad_signature"
    # The age holds on a hit too.
    monkeypatch.setattr(time, "time", lambda: issued + 61.0)
    with pytest.raises(Unauthorized) as info:
        cache.verify(raw, check, max_age=60)
    assert info.value.code == "auth_expired"
    # Failures are not kept, and the cache stays within its size.
    tampered = raw.replace("Ann", "Eve")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            cache.verify(tampered, check, max_age=60)
    assert len(cache._entries) <= 2
