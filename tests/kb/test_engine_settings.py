"""An engine's settings live in its folder and are read from `Settings.engine` or the environment:
checked when the store opens (a bad value is one clear line, before any server starts), never
shown by `repr`, and the keyword names of earlier versions still reach them."""

from __future__ import annotations

import pytest

from intentkb.config import Settings
from intentkb.errors import StoreError
from intentkb.kb.engines import open_store
from intentkb.kb.falkordb.settings import FalkorSettings
from intentkb.kb.neo4j.settings import Neo4jSettings


def test_engine_settings_come_from_the_engine_dict_or_the_environment(monkeypatch):
    monkeypatch.setenv("INTENTKB_NEO4J_USER", "reader")
    monkeypatch.setenv("INTENTKB_FALKORDB_ARGS", "THREAD_COUNT   4")
    s = Settings(engine={"password": "s3cret-pw"})
    assert (Neo4jSettings.of(s).user, Neo4jSettings.of(s).password.get_secret_value()) == ("reader", "s3cret-pw")
    assert FalkorSettings.of(s).args == "THREAD_COUNT 4"
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in str(Neo4jSettings.of(s))
    old = Settings(neo4j_password="pw2", neo4j_database="kb", falkordb_args="OMP_THREAD_COUNT 2")
    assert Neo4jSettings.of(old).database == "kb" and FalkorSettings.of(old).args == "OMP_THREAD_COUNT 2"


def test_bad_engine_settings_fail_at_once_before_a_server_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("INTENTKB_FALKORDB_ARGS", "bad")
    with pytest.raises(StoreError, match="must be 'NAME value' pairs"):
        open_store(Settings(data_dir=tmp_path))
    assert not (tmp_path / "falkordb" / "server.pid").exists()
