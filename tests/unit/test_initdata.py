from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.initdata import sign_init_data
from services.errors import Unauthorized
from webapp_api.initdata import init_data_from_header, verify_init_data

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
