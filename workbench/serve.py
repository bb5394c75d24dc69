"""Start the Streamlit app on 127.0.0.1 with safe settings.

``streamlit run`` is pointed at ``workbench/asgi.py``, whose ``st.App`` adds the security headers and
the login routes, the Host check and the authenticated file route. There is no fallback to the bare
page script: without the ASGI layer no login cookie can be set and nothing guards ``/media``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from workbench.webauth import LOGIN_HEADER

__all__ = ["serve", "streamlit_args"]

APP = Path(__file__).with_name("asgi.py")


def streamlit_args(port: int) -> list[str]:
    """Bound to loopback, no usage statistics, no error details shown to users."""
    return [
        "run",
        str(APP),
        "--server.address",
        "127.0.0.1",
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


def _greeting(home: Path, port: int) -> str:
    """What a newcomer needs to know: where the app is and how the first login happens."""
    from archive.home import Home
    from workbench import config, sessions
    from workbench.clitools import TOOL_VERSION

    url = f"http://127.0.0.1:{port}"
    opened = Home.open(home, config.key_path(), TOOL_VERSION, config.db_url())
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


def serve(home: Path, port: int) -> int:
    """Run the app on 127.0.0.1:PORT until stopped (Ctrl-C)."""
    os.environ["WB_HOME"] = str(home)
    from streamlit.web import cli as stcli

    print(_greeting(home, port), file=sys.stderr, flush=True)

    sys.argv = ["streamlit", *streamlit_args(port)]
    try:
        stcli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
