"""Trusted timestamps (CAP-06, opt-in): an RFC 3161 token over each signed checkpoint of the custody log.

Our own Ed25519 signature says what the log held, not when: whoever holds the key could sign a
checkpoint with any date. A token from an outside time-stamping authority (TSA) proves that the
checkpoint, and so its Merkle root over every earlier event, existed no later than the token's time.

The stamped bytes are exactly the checkpoint's signed message (``custody.checkpoint_message``: tree
size, Merkle root, signing time), so ``openssl ts -verify -data`` over those bytes checks a token with
no software of ours. Requests, responses and their checks use ``rfc3161-client`` (Trail of Bits);
only the HTTP exchange is ours.

Nothing here touches the network unless a TSA is configured (``WB_TSA_URL`` and ``WB_TSA_CA``, or the
settings ``tsa_url`` and ``tsa_ca_pem``). Stamping runs after the commit, in a background thread: a
TSA that is down or slow delays the token (the row keeps the error, a warning is logged, and the next
write or the app's background work tries again), and never holds up an ingest or a capture.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from archive.custody import checkpoint_message
from archive.db import Database, checkpoints, settings, timestamps, utc_text, utcnow
from archive.errors import ConfigError

__all__ = [
    "Stamper",
    "TimestampError",
    "TsaConfig",
    "check_token",
    "read_chain",
    "redacted_url",
    "request_token",
    "stamped_bytes",
    "stamps_for_package",
    "stored_token_problems",
    "token_rows",
    "tsa_config",
]

log = logging.getLogger("wb.tsa")

TIMEOUT_S = 10.0
RETRY_AFTER = timedelta(seconds=60)  # after a failure, other writes do not try again before this
MAX_RESPONSE = 1 << 20


class TimestampError(ConfigError):
    """The TSA could not be reached, or its answer is not a valid token over the stamped bytes."""


@dataclass(frozen=True)
class TsaConfig:
    url: str
    ca_pem: bytes  # the authority's chain: its root (and intermediates), PEM


def _setting(conn: Connection, key: str) -> Any:
    row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
    return None if row is None else row[0]


REDACTED = "redacted"


def redacted_url(url: str | None) -> str | None:
    """The authority's address without what may be a credential: its query (an API token, as some
    commercial authorities take), fragment and user info; scheme, host, port and path stay."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return REDACTED
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def tsa_config(conn: Connection) -> TsaConfig | None:
    """The environment's TSA (``WB_TSA_URL`` + ``WB_TSA_CA``), else the home's settings, else None."""
    url, ca_file = os.environ.get("WB_TSA_URL"), os.environ.get("WB_TSA_CA")
    if url and ca_file:
        try:
            return TsaConfig(url, Path(ca_file).expanduser().read_bytes())
        except OSError as exc:
            log.warning("WB_TSA_CA %s is unreadable (%s): no trusted timestamps", ca_file, exc.strerror)
            return None
    url, pem = _setting(conn, "tsa_url"), _setting(conn, "tsa_ca_pem")
    if isinstance(url, str) and url and isinstance(pem, str) and pem:
        return TsaConfig(url, pem.encode())
    return None


def stamped_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """What a token stamps: the checkpoint's signed message (``NAME.data`` in a package)."""
    return checkpoint_message(
        int(checkpoint["tree_size"]), str(checkpoint["root_hash"]), checkpoint["signed_at"]
    )


def read_chain(ca_pem: bytes) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Roots (self-issued) and intermediates of a PEM chain."""
    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except ValueError as exc:
        raise TimestampError(f"the TSA chain is not PEM certificates: {exc}") from None
    roots = [c for c in certs if c.subject == c.issuer]
    if not roots:
        raise TimestampError("the TSA chain holds no root certificate")
    return roots, [c for c in certs if c.subject != c.issuer]


def check_token(token: bytes, data: bytes, ca_pem: bytes, nonce: int | None = None) -> datetime:
    """The token's time, when ``token`` is a granted RFC 3161 response over ``data`` that chains to
    ``ca_pem``; else TimestampError naming what is wrong."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 time-stamp response ({exc})") from None
    roots, intermediates = read_chain(ca_pem)
    builder = VerifierBuilder(nonce=nonce)
    for cert in roots:
        builder = builder.add_root_certificate(cert)
    for cert in intermediates:
        builder = builder.add_intermediate_certificate(cert)
    try:
        builder.build().verify_message(response, data)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"the token does not verify: {exc}") from None
    moment = response.tst_info.gen_time
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def request_token(config: TsaConfig, data: bytes, timeout: float = TIMEOUT_S) -> tuple[bytes, datetime]:
    """Ask the TSA for a token over ``data`` (SHA-256 imprint, with a nonce and its certificate);
    returns the response, checked, and its time."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    if not config.url.startswith(("http://", "https://")):
        raise TimestampError(f"the TSA address must be http(s): {config.url[:200]!r}")
    query = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).build()
    headers = {"Content-Type": "application/timestamp-query"}
    request = urllib.request.Request(config.url, data=query.as_bytes(), headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http(s) checked)
            body = answer.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the TSA answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"the TSA cannot be reached: {getattr(exc, 'reason', exc)}") from None
    if len(body) > MAX_RESPONSE:
        raise TimestampError("the TSA's answer is larger than 1 MiB")
    return body, check_token(body, data, config.ca_pem, query.nonce)


def token_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every stamping attempt, oldest checkpoint first (tokens and pending ones)."""
    return [dict(r) for r in conn.execute(select(timestamps).order_by(timestamps.c.checkpoint_id)).mappings()]


class Stamper:
    """Stamps checkpoints that have no token yet, from the first one after the TSA was configured.

    Checkpoints signed before the first attempt are not stamped one by one: the first token's tree
    holds all their events, so it proves their time as well as theirs would (no earlier).
    """

    def __init__(self, db: Database, config: TsaConfig) -> None:
        self.db = db
        self.config = config
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- what to stamp ---------------------------------------------------------------------------

    def _due(self, conn: Connection, now: datetime) -> list[dict[str, Any]]:
        first = conn.execute(select(func.min(timestamps.c.checkpoint_id))).scalar()
        if first is None:
            latest = conn.execute(select(func.max(checkpoints.c.id))).scalar()
            if latest is None:
                return []
            first = latest
        stamped = select(timestamps.c.checkpoint_id).where(timestamps.c.token.is_not(None))
        rows = conn.execute(
            select(
                checkpoints.c.id, checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.signed_at
            )
            .where(checkpoints.c.id >= first, checkpoints.c.id.not_in(stamped))
            .order_by(checkpoints.c.id)
        ).mappings()
        return [dict(r) for r in rows]

    def _waiting(self, conn: Connection, now: datetime) -> bool:
        """A recent failure: leave the TSA alone until RETRY_AFTER has passed."""
        last = conn.execute(
            select(func.max(timestamps.c.updated_at)).where(
                timestamps.c.token.is_(None), timestamps.c.last_error.is_not(None)
            )
        ).scalar()
        if isinstance(last, str):  # a bare aggregate may come back untyped
            return last > utc_text(now - RETRY_AFTER)
        return last is not None and last > now - RETRY_AFTER

    # -- stamping --------------------------------------------------------------------------------

    def stamp_due(self, force: bool = False) -> tuple[int, list[str]]:
        """Stamp every checkpoint due; stops at the first failure. Returns (stamped, errors)."""
        now = utcnow()
        with self.db.connect() as conn:
            if not force and self._waiting(conn, now):
                return 0, []
            due = self._due(conn, now)
        done = 0
        for cp in due:
            error = self.stamp_one(cp)
            if error is not None:
                return done, [error]
            done += 1
        return done, []

    def stamp_one(self, checkpoint: Mapping[str, Any]) -> str | None:
        """Stamp one checkpoint (``id``, ``tree_size``, ``root_hash``, ``signed_at``); the error, if any."""
        try:
            token, moment = request_token(self.config, stamped_bytes(checkpoint))
        except TimestampError as exc:
            self._record(checkpoint, None, None, str(exc))
            log.warning(
                "trusted timestamp for checkpoint %s delayed: %s (retried later)", checkpoint["id"], exc
            )
            return str(exc)
        self._record(checkpoint, token, utc_text(moment), None)
        return None

    def _record(self, cp: Mapping[str, Any], token: bytes | None, at: str | None, error: str | None) -> None:
        values: dict[str, Any] = {"tsa_url": self.config.url, "updated_at": utcnow(), "last_error": error}
        if token is not None:
            values |= {
                "token": token,
                "gen_time": at,
                "tsa_chain": self.config.ca_pem.decode("ascii", "replace"),
            }
        with self.db.begin() as conn:
            row = conn.execute(
                select(timestamps.c.attempts, timestamps.c.token).where(
                    timestamps.c.checkpoint_id == cp["id"]
                )
            ).first()
            if row is None:
                conn.execute(
                    insert(timestamps).values(
                        checkpoint_id=cp["id"], tree_size=cp["tree_size"], root_hash=cp["root_hash"],
                        attempts=1, **values,
                    )
                )  # fmt: skip
            elif row.token is None:  # another process may have stamped it meanwhile: keep theirs
                conn.execute(
                    update(timestamps)
                    .where(timestamps.c.checkpoint_id == cp["id"])
                    .values(attempts=row.attempts + 1, **values)
                )

    # -- in the background -----------------------------------------------------------------------

    def kick(self) -> None:
        """Stamp what is due in a daemon thread (one at a time per home); returns at once."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="wb-tsa", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            # Checkpoints signed while this ran are picked up by the next round.
            while True:
                done, errors = self.stamp_due()
                if errors or not done:
                    break
        except Exception as exc:  # a background thread: log, never crash the command or the app
            log.warning("trusted timestamps: %s: %s", type(exc).__name__, exc)

    def wait(self, timeout: float) -> None:
        """Give a running stamping thread up to ``timeout`` seconds to finish (at the end of a command)."""
        thread = self._thread
        if thread is not None:
            deadline = time.monotonic() + timeout
            thread.join(max(0.0, deadline - time.monotonic()))


def stamps_for_package(
    conn: Connection, anchor_size: int, first_positions: Iterable[int]
) -> list[dict[str, Any]]:
    """The tokens a package carries: its own checkpoint's (when stamped), and for each item's first
    event the earliest token whose tree holds it (the earliest proven time). Checkpoint fields included."""
    rows = [
        dict(r)
        for r in conn.execute(
            select(
                timestamps.c.token, timestamps.c.tsa_chain, timestamps.c.gen_time, timestamps.c.tsa_url,
                checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.signed_at,
                checkpoints.c.key_id, checkpoints.c.signature,
            )
            .join(checkpoints, checkpoints.c.id == timestamps.c.checkpoint_id)
            .where(timestamps.c.token.is_not(None), checkpoints.c.tree_size <= anchor_size)
            .order_by(timestamps.c.gen_time, checkpoints.c.tree_size)
        ).mappings()
    ]  # fmt: skip
    chosen: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["tree_size"] == anchor_size:
            chosen.setdefault(anchor_size, row)
    for position in set(first_positions):
        earliest = next((r for r in rows if r["tree_size"] >= position), None)
        if earliest is not None:
            chosen.setdefault(int(earliest["tree_size"]), earliest)
    return [chosen[size] for size in sorted(chosen)]


def stored_token_problems(conn: Connection) -> list[tuple[str, int, str]]:
    """Kept tokens that no longer verify over their checkpoint (ref, tree size, problem): a token or a
    checkpoint edited in the database. Each is checked against the chain kept with it."""
    found = []
    rows = conn.execute(
        select(
            timestamps.c.checkpoint_id, timestamps.c.token, timestamps.c.tsa_chain,
            checkpoints.c.tree_size, checkpoints.c.root_hash, checkpoints.c.signed_at,
        )
        .join(checkpoints, checkpoints.c.id == timestamps.c.checkpoint_id, isouter=True)
        .where(timestamps.c.token.is_not(None))
        .order_by(timestamps.c.checkpoint_id)
    ).mappings()  # fmt: skip
    for row in rows:
        ref = f"timestamp:{row['checkpoint_id']}"
        if row["tree_size"] is None:
            found.append((ref, 0, "the token's checkpoint is missing from the database"))
            continue
        try:
            check_token(
                bytes(row["token"]), stamped_bytes(dict(row)), str(row["tsa_chain"] or "").encode("ascii")
            )
        except TimestampError as exc:
            found.append((ref, int(row["tree_size"]), f"trusted timestamp: {exc}"))
    return found
