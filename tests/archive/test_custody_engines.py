"""Trusted timestamps and fixity on both database engines (SQLite in the home, PostgreSQL)."""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import fixity
from archive.blobs import LocalBlobStore
from archive.cases import create_case
from archive.home import Home
from archive.ingest import Ingestor
from archive.model import IncomingFile
from archive.timestamps import Stamper, TsaConfig, stamps_for_package, stored_token_problems, token_rows
from tests.conftest import BOTH_ENGINES
from tests.tsa import TsaServer, make_authority

pytestmark = BOTH_ENGINES


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TsaServer]:
    with TsaServer(make_authority(tmp_path_factory.mktemp("authority"))) as server:
        yield server


def _ingest(home: Home, *texts: bytes) -> list[str]:
    with home.transaction("analyst-a") as tx:
        case = create_case(tx, "demo", "purpose")
    stored = []
    for data in texts:
        offer = IncomingFile("d.txt", lambda d=data: io.BytesIO(d), len(data))  # type: ignore[misc]
        result = Ingestor(home, None).ingest(case, offer, "analyst-a")
        assert result.status == "stored" and result.sha256
        stored.append(result.sha256)
    return stored


def test_checkpoints_are_stamped_kept_and_packaged(home: Home, tsa: TsaServer) -> None:
    _ingest(home, b"evidence\n" * 10)
    stamper = Stamper(home.db, TsaConfig(tsa.url, tsa.authority.ca_pem.read_bytes()))
    done, errors = stamper.stamp_due(force=True)
    assert done == 1 and errors == []
    with home.reading() as conn:
        rows = token_rows(conn)
        assert len(rows) == 1 and rows[0]["token"] is not None
        assert stored_token_problems(conn) == []
        chosen = stamps_for_package(conn, int(rows[0]["tree_size"]), [1])
    assert [c["tree_size"] for c in chosen] == [rows[0]["tree_size"]]


def test_fixity_marks_a_changed_blob_and_resumes(home: Home, tmp_path: Path) -> None:
    sha = max(_ingest(home, b"statement\n" * 10, b"another\n" * 10))  # the one checked last
    assert isinstance(home.blobs, LocalBlobStore)
    path = home.blobs.path(sha)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(b"changed")
    first = fixity.run_fixity(home, "admin", limit=1)
    assert not first.finished
    run = fixity.run_fixity(home, "admin")
    assert run.resumed and run.finished and [f["sha256"] for f in run.failed] == [sha]
    with home.reading() as conn:
        assert list(fixity.failed_blobs(conn)) == [sha]
