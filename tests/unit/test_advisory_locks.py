"""Advisory-lock keys: one registry (`db/locks.py`), distinct keys, no magic numbers elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from db import locks

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__"}
# The registry's own docstring names the functions; tests take the app's locks to test them.
SKIP = {ROOT / "db" / "locks.py", ROOT / "tests"}
CALL = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?lock(?:_shared)?\s*\(", re.IGNORECASE)
INT = re.compile(r"[+-]?(?:0x[0-9a-f]+|\d+)", re.IGNORECASE)
BIND = re.compile(r":[a-z_][a-z0-9_]*", re.IGNORECASE)


def sources() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        if SKIP_DIRS.intersection(path.relative_to(ROOT).parts) or SKIP.intersection(
            (path, *path.parents)
        ):
            continue
        if path.suffix in {".py", ".sql"} and path.is_file():
            yield path


def lock_calls(text: str) -> Iterator[tuple[int, str]]:
    """(line, argument text) of every advisory-lock call in a source."""
    for match in CALL.finditer(text):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        yield text.count("\n", 0, match.start()) + 1, text[match.end() : end - 1].strip()


def test_keys_are_distinct_within_each_key_space_and_fit_their_types() -> None:
    assert len(set(locks.SINGLE_KEYS.values())) == len(locks.SINGLE_KEYS)
    assert len(set(locks.NAMESPACES.values())) == len(locks.NAMESPACES)
    assert all(-(2**63) <= key < 2**63 for key in locks.SINGLE_KEYS.values())  # bigint
    assert all(-(2**31) <= key < 2**31 for key in locks.NAMESPACES.values())  # int4
    # Every named key is in one of the two lists, under its own name.
    constants = {
        name: value
        for name, value in vars(locks).items()
        if name.isupper() and isinstance(value, int)
    }
    assert constants == {**locks.SINGLE_KEYS, **locks.NAMESPACES}
    assert not set(locks.SINGLE_KEYS) & set(locks.NAMESPACES)


def test_the_per_transfer_locks_use_their_registered_namespace() -> None:
    source = (ROOT / "db" / "sql" / "tokens" / "create_transfers.sql").read_text()
    assert [args for _, args in lock_calls(source)] == [f"{locks.TRANSFER_IDS}, hashtext(x::text)"]


def test_every_advisory_lock_takes_a_registered_key() -> None:
    """Python binds a key from `db.locks`; SQL (sources and migrations' frozen copies) writes
    a registered key or namespace as a literal. Anything else is a key the registry cannot see.
    """
    found, wrong = 0, []
    for path in sources():
        text = path.read_text()
        for line, args in lock_calls(text):
            found += 1
            where = f"{path.relative_to(ROOT)}:{line}: ({args})"
            first = args.split(",")[0].strip()
            if BIND.fullmatch(args):
                imports = "from db import locks" in text or "from db.locks import" in text
                if path.suffix != ".py" or not imports:
                    wrong.append(f"{where}: a bound key, from a file that does not use db.locks")
            elif INT.fullmatch(first):
                key = int(first, 0)
                registered = locks.NAMESPACES if "," in args else locks.SINGLE_KEYS
                if key not in registered.values():
                    wrong.append(f"{where}: {key} is not in db/locks.py")
            else:
                wrong.append(f"{where}: neither a db.locks key nor a registered literal")
    assert not wrong, "\n".join(wrong)
    assert found >= 5  # migrate, hold expiry, create_transfers: its file and two frozen copies
