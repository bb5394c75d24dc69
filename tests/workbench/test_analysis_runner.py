"""One analysis child for a run of files: reused across files, replaced when it dies."""

from __future__ import annotations

import os
import signal
import time

from archive.model import FlagLabel
from tests.workbench.test_analysis import jpeg_bytes
from workbench.services.analysis.child import Runner
from workbench.services.analysis.run import Limits, analyse_bytes


def labels(data: bytes, runner: Runner | None = None) -> dict[str, FlagLabel]:
    return {f.detector: f.label for f in analyse_bytes(data, runner=runner).flags}


def test_one_child_serves_several_files_with_the_same_results_as_separate_runs() -> None:
    first, second = jpeg_bytes((96, 64)), jpeg_bytes((128, 96))
    with Runner(Limits()) as runner:
        got_first = labels(first, runner)
        pid = runner.pid
        got_second = labels(second, runner)
        assert pid is not None and runner.pid == pid
    assert runner.pid is None  # closed with the block
    assert got_first == labels(first) and got_second == labels(second)
    assert FlagLabel.NOT_ANALYSED not in got_first.values()


def test_a_child_that_died_between_files_is_replaced() -> None:
    with Runner(Limits()) as runner:
        labels(jpeg_bytes(), runner)
        pid = runner.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until the kernel has reaped it, as seen from the runner
            if runner._proc is not None and runner._proc.poll() is not None:
                break
            time.sleep(0.05)
        again = labels(jpeg_bytes(), runner)
        assert runner.pid not in (None, pid)
    assert FlagLabel.NOT_ANALYSED not in again.values()


def test_a_timeout_kills_the_child_and_the_file_is_not_analysed() -> None:
    with Runner(Limits(seconds=0.001)) as runner:
        result = analyse_bytes(jpeg_bytes(), runner=runner)
        assert runner.pid is None
    assert {f.label for f in result.flags} == {FlagLabel.NOT_ANALYSED}
    assert all("time limit" in (f.reason or "") for f in result.flags)
