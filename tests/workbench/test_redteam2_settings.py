"""Red team, home-wide settings (issue 12): what an admin types is not shown to every account."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.home import Home
from archive.timestamps import TimestampError
from tests.tsa import make_authority
from tests.workbench.app_fixtures import make_world
from workbench import timestamping


def test_a_tsa_address_with_credentials_is_refused(home: Home, tmp_path: Path) -> None:
    """`wb timestamps` shows the authority's address to every account, and each stamping attempt
    keeps it: a password in it would be everyone's."""
    w = make_world(home, n_items=0)
    chain = make_authority(tmp_path / "tsa").ca_pem.read_bytes()
    with pytest.raises(TimestampError, match="credentials"):
        timestamping.configure_tsa(home, w.admin, "https://stamper:zqtsa-secret@127.0.0.1:9/tsr", chain)
    status = timestamping.timestamp_status(home, w.analyst)
    assert status["tsa_url"] is None and "zqtsa-secret" not in str(status)
    timestamping.configure_tsa(home, w.admin, "https://127.0.0.1:9/tsr", chain)  # the address alone is fine
    assert timestamping.timestamp_status(home, w.analyst)["tsa_url"] == "https://127.0.0.1:9/tsr"
