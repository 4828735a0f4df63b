from pathlib import Path

import pytest

from shared.db.migrations import SHARED_MIGRATIONS, discover


def test_shared_and_service_migrations_are_well_named():
    assert discover(SHARED_MIGRATIONS)
    for directory in Path("services").glob("*/adapters/migrations"):
        versions = [v for v, _ in discover(directory)]
        assert versions == sorted(versions)


def test_badly_named_or_duplicate_migrations_are_refused(tmp_path):
    (tmp_path / "1_x.sql").write_text("select 1")
    with pytest.raises(ValueError, match="NNNN_description"):
        discover(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("select 1")
    (tmp_path / "0001_b.sql").write_text("select 1")
    with pytest.raises(ValueError, match="duplicate"):
        discover(tmp_path)
