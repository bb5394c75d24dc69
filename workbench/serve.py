"""Start the Streamlit app on 127.0.0.1 with safe settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["serve", "streamlit_args"]

APP = Path(__file__).with_name("app.py")


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
    ]


def serve(home: Path, port: int) -> int:
    os.environ["WB_HOME"] = str(home)
    from streamlit.web import cli as stcli

    sys.argv = ["streamlit", *streamlit_args(port)]
    try:
        stcli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
