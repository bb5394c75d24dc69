"""`wb ARGS` in its own process that kills itself with SIGKILL right after it has written its Nth line
to one stream: ``python -m tests.workbench.crash_child stdout|stderr N ARGS...``.

The kill lands exactly there, however busy the machine: a parent that reads the lines and then sends
the signal may be scheduled too late, when the command has run on (even to its end).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

from workbench.cli import main


class KillAfter:
    """A text stream that passes writes through and kills the process at its Nth line."""

    def __init__(self, stream: TextIO, lines: int) -> None:
        self.stream = stream
        self.lines = lines
        self.seen = 0

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self.stream.flush()
        self.seen += text.count("\n")
        if self.seen >= self.lines:
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


if __name__ == "__main__":
    stream, lines, *argv = sys.argv[1:]
    setattr(sys, stream, KillAfter(getattr(sys, stream), int(lines)))
    sys.exit(main(argv))
