"""The guard state store (`gateway/store/guard_state.py`): the same round trip on SQLite and on the
real local PostgreSQL server, across a reopen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.store.guard_state import (
    GuardStateStore,
    PostgresGuardStateStore,
    SqliteGuardStateStore,
    open_guard_state,
)


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], GuardStateStore]:
    if request.param == "sqlite":
        return lambda: open_guard_state(tmp_path, None)
    url = request.getfixturevalue("postgres_url")
    return lambda: open_guard_state(tmp_path, url)


def test_records_round_trip_by_kind_across_a_reopen(opener: Callable[[], GuardStateStore]) -> None:
    store = opener()
    store.save("stop", "*", '{"by": "alice"}')
    store.save("stop", "agent-one", '{"by": "bob"}')
    store.save("pin", "bank/transfer", '{"digest": "sha256:aa"}')
    store.save("pin", "bank/transfer", '{"digest": "sha256:bb"}')  # replaced, not added
    store.drop("stop", "agent-one")
    store.drop("stop", "never-there")
    store.close()
    again = opener()
    try:
        assert again.load("stop") == {"*": '{"by": "alice"}'}
        assert again.load("pin") == {"bank/transfer": '{"digest": "sha256:bb"}'}
        assert again.load("lease") == {}
    finally:
        again.close()


def test_the_store_is_postgresql_when_a_url_is_given_else_a_file_in_the_state_dir(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite = open_guard_state(tmp_path, None)
    postgres = open_guard_state(tmp_path, postgres_url)
    try:
        assert isinstance(sqlite, SqliteGuardStateStore) and (tmp_path / "guards.db").exists()
        assert isinstance(postgres, PostgresGuardStateStore)
    finally:
        sqlite.close()
        postgres.close()
