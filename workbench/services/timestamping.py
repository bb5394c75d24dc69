"""Trusted timestamps as an account sees and manages them (``wb timestamps``, ``wb log``, the app).

Tokens name checkpoints (tree sizes, Merkle roots, times), never case data, so any active account may
see them and ask for a retry; only an admin (``Perm.MAINTAIN``) sets the authority in the home's
settings. The environment (``WB_TSA_URL``, ``WB_TSA_CA``) wins over the settings.

An authority's address may carry an API token in its query: only accounts that manage it see the
address whole; everyone else sees it without query, fragment and user info
(``archive.timestamps.redacted_url``), in the status, in each attempt's row and in its error text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from archive.db import settings
from archive.home import Home
from archive.timestamps import Stamper, TimestampError, read_chain, redacted_url, token_rows, tsa_config
from workbench.services.auth import Account, Perm, can, refuse, require

__all__ = [
    "StampAttempt",
    "TimestampStatus",
    "clear_tsa",
    "configure_tsa",
    "event_stamps",
    "retry_timestamps",
    "timestamp_status",
]


def _active(home: Home, by: Account, via: str) -> None:
    if not by.active:
        raise refuse(home, by, Perm.READ, via)


@dataclass(frozen=True)
class StampAttempt:
    """One checkpoint's stamping: its token's time once stamped, else the attempts and the last error."""

    checkpoint_id: int
    tree_size: int
    root_hash: str
    status: str  # "stamped" | "pending"
    gen_time: str | None
    attempts: int
    last_error: str | None
    tsa_url: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "checkpoint_id": self.checkpoint_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "status": self.status,
            "gen_time": self.gen_time,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "tsa_url": self.tsa_url,
        }


@dataclass(frozen=True)
class TimestampStatus:
    """The configured authority (None: none) and every stamping attempt, as one account may see them."""

    tsa_url: str | None
    tokens: list[StampAttempt]


def timestamp_status(home: Home, by: Account, via: str = "cli") -> TimestampStatus:
    """The configured authority (its address) and every stamping attempt, oldest checkpoint first."""
    _active(home, by, via)
    with home.reading() as conn:
        config = tsa_config(conn)
        rows = token_rows(conn)
    urls = {str(r["tsa_url"]) for r in rows if r["tsa_url"]} | ({config.url} if config else set())
    shown = _shown_to(by, urls)
    return TimestampStatus(
        tsa_url=None if config is None else shown(config.url),
        tokens=[
            StampAttempt(
                checkpoint_id=r["checkpoint_id"],
                tree_size=r["tree_size"],
                root_hash=r["root_hash"],
                status="stamped" if r["token"] is not None else "pending",
                gen_time=r["gen_time"],
                attempts=r["attempts"],
                last_error=shown(r["last_error"]),
                tsa_url=shown(r["tsa_url"]),
            )
            for r in rows
        ],
    )


def retry_timestamps(home: Home, by: Account, via: str = "cli") -> tuple[int, list[str]]:
    """Stamp every checkpoint still due, now (waiting for the answers); (stamped, errors)."""
    _active(home, by, via)
    with home.reading() as conn:
        config = tsa_config(conn)
    if config is None:
        return 0, [
            "no time-stamping authority is configured (WB_TSA_URL and WB_TSA_CA, or wb timestamps --set-url)"
        ]
    done, errors = Stamper(home.db, config).stamp_due(force=True)
    shown = _shown_to(by, {config.url})
    return done, [str(shown(e)) for e in errors]


def _shown_to(by: Account, urls: set[str]) -> Callable[[str | None], str | None]:
    """Text as ``by`` may see it: the authority's addresses redacted unless it manages them."""

    def shown(text: str | None) -> str | None:
        if text is None or can(by, Perm.MAINTAIN):
            return text
        # Longest first: one address may be the start of another.
        for url in sorted(urls, key=len, reverse=True):
            text = text.replace(url, redacted_url(url) or "")
            query = urlsplit(url).query
            text = text.replace(query, "redacted") if query else text
        return text

    return shown


def configure_tsa(home: Home, by: Account, url: str, ca_pem: bytes, via: str = "cli") -> None:
    """Store the authority in the home's settings (admin); the chain must be PEM certificates."""
    with home.transaction(by.name, via) as tx:
        require(by, Perm.MAINTAIN, tx=tx)
        if not url.startswith(("http://", "https://")):
            raise TimestampError("the TSA address must start with http:// or https://")
        if "@" in urlsplit(url).netloc:  # every account sees the address (wb timestamps); so would they
            raise TimestampError("credentials in the TSA address are not supported: give the address alone")
        read_chain(ca_pem)
        for key, value in (("tsa_url", url), ("tsa_ca_pem", ca_pem.decode("ascii", "replace"))):
            tx.conn.execute(settings.delete().where(settings.c.key == key))
            tx.conn.execute(settings.insert().values(key=key, value=value))
        tx.event("settings.changed", details={"scope": "tsa"})
    home.configure_stamping()


def clear_tsa(home: Home, by: Account, via: str = "cli") -> None:
    """Stop stamping (admin): the settings are removed; tokens already kept stay."""
    with home.transaction(by.name, via) as tx:
        require(by, Perm.MAINTAIN, tx=tx)
        tx.conn.execute(settings.delete().where(settings.c.key.in_(("tsa_url", "tsa_ca_pem"))))
        tx.event("settings.changed", details={"scope": "tsa", "cleared": True})
    home.configure_stamping()


def event_stamps(home: Home, positions: Iterable[int]) -> dict[int, str]:
    """For each log position, the time of the earliest token whose checkpoint covers it.

    The caller has already been allowed to see these events; tokens carry no case data.
    """
    with home.reading() as conn:
        stamped = [
            (int(r["tree_size"]), str(r["gen_time"])) for r in token_rows(conn) if r["token"] is not None
        ]
    stamped.sort(key=lambda pair: (pair[1], pair[0]))
    found: dict[int, str] = {}
    for position in positions:
        for size, at in stamped:
            if size >= position:
                found[position] = at
                break
    return found
