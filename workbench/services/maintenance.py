"""The app's background upkeep: scheduled fixity and retries of delayed trusted timestamps.

One daemon thread per app process, beside the job worker. Each round (every minute) it asks the
time-stamping authority again for checkpoints still waiting (when one is configured), and runs fixity
when the schedule says so (``workbench.services.fixity``). A failure is logged and the next round goes on.
"""

from __future__ import annotations

import logging
import threading

from archive.home import Home
from workbench.services import fixity

__all__ = ["Maintenance"]

log = logging.getLogger("wb.maintenance")


class Maintenance:
    """Runs ``round()`` every ``every_s`` seconds in a daemon thread until stopped."""

    def __init__(self, home: Home, every_s: float = 60.0) -> None:
        self.home = home
        self.every_s = every_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="wb-maintenance", daemon=True)

    def start(self) -> Maintenance:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def round(self) -> None:
        """One round of upkeep (also callable directly)."""
        if self.home.stamper is not None:
            self.home.stamper.kick()
        fixity.run_scheduled(self.home)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.round()
            except Exception as exc:  # background upkeep: log and try again next round
                log.warning("background upkeep: %s: %s", type(exc).__name__, exc)
