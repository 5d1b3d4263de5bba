"""Every SQL function of the migrated database is, whole, the file `db/sql/<schema>/<name>.sql`.

To change a function: edit its file, and add a migration that applies a frozen copy of it
(README "Architecture"). This test fails when a function has no file, a file has no function,
or the two differ: a migration that forgot the file, or a file edited without a migration.
The comparison is with `pg_get_functiondef`, header (language, volatility, SECURITY DEFINER,
SET options) included; it printed the same text on PostgreSQL 15 and 18.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from db.roles import OWNER_ROLE
from db.urls import asyncpg_dsn

SQL_DIR = Path(__file__).resolve().parents[2] / "db" / "sql"

# Every function outside PostgreSQL's own schemas, except those an extension installed.
_FUNCTIONS = """
SELECT n.nspname AS schema, p.proname AS name, p.oid::regprocedure::text AS signature,
       pg_get_functiondef(p.oid) AS definition
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
   AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
 ORDER BY 1, 2, 3
"""


def normalised(definition: str) -> str:
    """The definition without a file's leading comment lines, its final `;`, trailing spaces
    at line ends and surrounding blank lines: what `pg_get_functiondef` gives, as a file."""
    lines = definition.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    text = "\n".join(line.rstrip() for line in lines).strip()
    return text.removesuffix(";").rstrip()


def source_files() -> dict[str, Path]:
    return {f"{path.parent.name}.{path.stem}": path for path in sorted(SQL_DIR.glob("*/*.sql"))}


@asynccontextmanager
async def connect(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        yield conn
    finally:
        await conn.close()


async def live_functions(conn: asyncpg.Connection) -> dict[str, str]:
    functions: dict[str, str] = {}
    for row in await conn.fetch(_FUNCTIONS):
        name = f"{row['schema']}.{row['name']}"
        assert name not in functions, (
            f"{row['signature']}: an overload; one file per name holds one function"
        )
        functions[name] = row["definition"]
    return functions


async def test_every_function_is_its_source_file_and_every_file_a_function(
    owner_url: str,
) -> None:
    async with connect(owner_url) as conn:
        live = await live_functions(conn)
    files = source_files()
    assert sorted(live) == sorted(files), (
        f"functions without a file: {sorted(set(live) - set(files))}; "
        f"files without a function: {sorted(set(files) - set(live))}"
    )
    assert len(live) >= 5  # auth.current_user_id, tokens.create_transfers, ...
    for name, definition in live.items():
        assert normalised(files[name].read_text()) == normalised(definition), (
            f"{name}: the migrated function differs from {files[name].relative_to(SQL_DIR)}"
        )


async def test_each_file_applied_by_the_owner_leaves_its_function_as_it_was(
    owner_url: str,
) -> None:
    """A file is runnable as it stands: what a migration's frozen copy of it will run."""
    async with connect(owner_url) as conn:
        before = await live_functions(conn)
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
            for path in source_files().values():
                await conn.execute(path.read_text())
            assert await live_functions(conn) == before
        finally:
            await tx.rollback()


def test_normalising_drops_only_the_file_furniture() -> None:
    definition = (
        "CREATE OR REPLACE FUNCTION s.f()\n RETURNS int\nAS $function$ SELECT 1 $function$\n"
    )
    as_file = f"-- s.f: one.\n--\n\n{definition.rstrip()};  \n"
    assert normalised(as_file) == normalised(definition) == definition.strip()
    assert normalised(as_file.replace("SELECT 1", "SELECT 2")) != normalised(definition)
    assert normalised(definition.replace(" RETURNS", "  -- x\n RETURNS")) != normalised(definition)
