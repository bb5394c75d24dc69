"""Start the Streamlit app with safe settings: on 127.0.0.1, or an address of the operator's choice.

``wb serve --address ADDR`` (team mode) listens beyond loopback for a TLS reverse proxy in front of
one or more instances; ``--public-host NAME`` names the Host that proxy passes on. Instances share
only the database (sessions and login codes live there), so a login made through one holds on all.

``streamlit run`` is pointed at ``workbench/app/asgi.py``, whose ``st.App`` adds the security headers and
the login routes, the Host check and the authenticated file route. There is no fallback to the bare
page script: without the ASGI layer no login cookie can be set and nothing guards ``/media``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from workbench.app.webauth import LOGIN_HEADER, PUBLIC_HOST_ENV

__all__ = ["serve", "streamlit_args"]

APP = Path(__file__).with_name("asgi.py")


def streamlit_args(port: int, address: str = "127.0.0.1") -> list[str]:
    """Bound to loopback unless told otherwise, no usage statistics, no error details shown to users."""
    return [
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
        # A Streamlit session belongs to the login cookie of the connection that made it (asgi._bind_login).
        "--server.trustedUserHeaders",
        json.dumps({LOGIN_HEADER: "wb_login"}),
    ]


def _greeting(home: Path, port: int, address: str = "127.0.0.1") -> str:
    """What a newcomer needs to know: where the app is and how the first login happens."""
    from archive.home import Home
    from workbench import TOOL_VERSION
    from workbench.services import config, sessions, unlock

    url = f"http://{f'[{address}]' if ':' in address else address}:{port}"
    key = unlock.data_key(home, use_session=False)
    opened = Home.open(home, config.key_path(), TOOL_VERSION, config.db_url(), data_key=key)
    try:
        first = not sessions.has_accounts(opened)
    finally:
        opened.close()
    if first:
        return (
            f"wb: the workbench is at {url}. No account exists yet: open that address in a browser on "
            "this machine to create the first administrator (or run `wb init --admin NAME --password-stdin`)."
        )
    return f"wb: the workbench is at {url}. Log in with your account (an admin adds accounts in Settings)."


def serve(home: Path, port: int, address: str = "127.0.0.1", public_host: str = "") -> int:
    """Run the app on ADDRESS:PORT (default 127.0.0.1) until stopped (Ctrl-C)."""
    os.environ["WB_HOME"] = str(home)
    if public_host:
        os.environ[PUBLIC_HOST_ENV] = public_host
    from streamlit.web import cli as stcli

    print(_greeting(home, port, address), file=sys.stderr, flush=True)

    sys.argv = ["streamlit", *streamlit_args(port, address)]
    try:
        stcli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
