"""Start the Streamlit app on 127.0.0.1 with safe settings.

``streamlit run`` is pointed at ``workbench/asgi.py``, whose ``st.App`` adds the security headers and
the authenticated file route; ``APP_PLAIN`` (the bare page script) is the fallback should the ASGI
form ever stop working (``WB_PLAIN_STREAMLIT=1``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["serve", "streamlit_args"]

APP = Path(__file__).with_name("asgi.py")
APP_PLAIN = Path(__file__).with_name("app.py")


def streamlit_args(port: int) -> list[str]:
    """Bound to loopback, no usage statistics, no error details shown to users."""
    return [
        "run",
        str(APP_PLAIN if os.environ.get("WB_PLAIN_STREAMLIT") == "1" else APP),
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
