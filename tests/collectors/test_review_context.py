"""Review: a capture whose browser context cannot open (its profile file gone or refused by the
browser) fails with the reason, as every capture ends, and leaves no proxy listening behind."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from collectors.guard import Policy, parse_allow
from collectors.web import CaptureSettings, StagedCapture, WebCollector

pytestmark = [pytest.mark.browser]


def listening_sockets() -> int:
    """TCP sockets of this process that listen (/proc/self/fd against /proc/net/tcp*): a count of all
    its descriptors would also move with whatever another thread of the test process opens meanwhile."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += fields[3] == "0A" and fields[9] in inodes  # 0A: LISTEN
    return count


def test_a_context_that_cannot_open_fails_the_url_and_closes_its_proxy(tmp_path: Path) -> None:
    bad = tmp_path / "refused.json"
    bad.write_text('{"cookies": [{"name": "s", "value": "v", "domain": "127.0.0.1"}], "origins": []}')
    found: list[StagedCapture] = []
    fds: list[int] = []

    async def go() -> None:
        for state in (tmp_path / "gone.json", bad):
            settings = CaptureSettings(
                policy=Policy(parse_allow(["127.0.0.1:9"])), capture_timeout=20, storage_state=str(state)
            )
            async with WebCollector(settings) as collector:
                fds.append(listening_sockets())
                for n in range(3):
                    found.append(
                        await collector.capture(
                            "http://127.0.0.1:9/x", tmp_path / f"{state.stem}{n}", "analyst-a", "demo", "wb/t"
                        )
                    )
                fds.append(listening_sockets())

    asyncio.run(go())
    assert [c.status for c in found] == ["failed"] * 6
    assert all("context could not be opened" in str(c.reason) for c in found)
    assert all(c.record["steps"][-1]["step"] == "open_context" for c in found)
    # One listening proxy per capture used to stay open for the rest of the run.
    assert fds[1] <= fds[0] and fds[3] <= fds[2], fds
