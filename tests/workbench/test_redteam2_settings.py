"""Red team, home-wide settings (issue 12): what an admin types is not shown to every account."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.home import Home
from archive.timestamps import TimestampError
from tests.tsa import make_authority
from tests.workbench.app_fixtures import PASSWORD, make_world
from workbench.services import timestamping


def test_a_tsa_address_with_credentials_is_refused(home: Home, tmp_path: Path) -> None:
    """`wb timestamps` shows the authority's address to every account, and each stamping attempt
    keeps it: a password in it would be everyone's."""
    w = make_world(home, n_items=0)
    chain = make_authority(tmp_path / "tsa").ca_pem.read_bytes()
    with pytest.raises(TimestampError, match="credentials"):
        timestamping.configure_tsa(home, w.admin, "https://stamper:zqtsa-secret@127.0.0.1:9/tsr", chain)
    status = timestamping.timestamp_status(home, w.analyst)
    assert status.tsa_url is None and "zqtsa-secret" not in str(status)
    timestamping.configure_tsa(home, w.admin, "https://127.0.0.1:9/tsr", chain)  # the address alone is fine
    assert timestamping.timestamp_status(home, w.analyst).tsa_url == "https://127.0.0.1:9/tsr"


def test_a_new_login_clears_what_an_earlier_session_left_in_the_browser(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay's service worker keeps what it loaded of a captured page in the browser's storage,
    cleared at logout. A session that ended otherwise (idle, expiry, a closed window) left it there,
    and the next person to log in on that browser could open it under /replay/: the login clears it."""
    from starlette.requests import Request

    from workbench.app import asgi
    from workbench.services import login_codes, sessions

    monkeypatch.setenv("WB_HOME", str(home.root))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    w = make_world(home, n_items=0)
    assert w.analyst.name == "analyst"
    token, _ = sessions.open_session(home, "analyst", PASSWORD, "app")
    code = login_codes.handoff(home, token)
    scope = {"type": "http", "method": "GET", "path": "/wb/session", "query_string": f"code={code}".encode(),
             "headers": [(b"sec-fetch-site", b"same-origin"), (b"host", b"127.0.0.1:8501")], "scheme": "http",
             "server": ("127.0.0.1", 8501)}  # fmt: skip
    response = asgi.start_session(Request(scope))
    assert response.status_code == 303 and "wb_session" in response.headers["set-cookie"]
    assert response.headers.get("clear-site-data") == '"cache", "storage"'


def test_a_token_in_the_tsa_address_is_shown_only_to_admins(home: Home, tmp_path: Path) -> None:
    """Some authorities take an API token in the query: the status, each attempt's row and its error
    show it to an admin (who manages it) and redacted to everyone else (issue 11)."""
    from archive.timestamps import redacted_url

    w = make_world(home, n_items=0)
    chain = make_authority(tmp_path / "tsa").ca_pem.read_bytes()
    url = "https://127.0.0.1:9/tsr?api_key=zqtsa-token"
    timestamping.configure_tsa(home, w.admin, url, chain)
    _, errors = timestamping.retry_timestamps(home, w.analyst)  # nothing listens on port 9: attempts fail
    assert errors and "zqtsa-token" not in str(errors)
    for who in (w.analyst, w.legal, w.outsider):
        status = timestamping.timestamp_status(home, who)
        assert status.tsa_url == "https://127.0.0.1:9/tsr?redacted"
        assert status.tokens and "zqtsa-token" not in str(status)
    admin = timestamping.timestamp_status(home, w.admin)
    assert admin.tsa_url == url and admin.tokens[0].tsa_url == url
    assert redacted_url("https://u:p@tsa.example:8443/a/b?k=v#f") == "https://tsa.example:8443/a/b?redacted"
