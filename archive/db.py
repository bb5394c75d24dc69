"""Database schema and connections.

SQLAlchemy Core tables, migrated with Alembic (``archive/migrations``). SQLite in WAL mode with a
busy timeout is the embedded default; a PostgreSQL URL works the same way because nothing outside
the dialect hooks here and in the migrations is SQLite-specific.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.types import TypeDecorator

from archive.fold import fold

__all__ = ["Database", "metadata", "utc_text", "utcnow"]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: one fixed form, so it sorts and hashes the same everywhere."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not accepted: give a timezone")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


class UTCTime(TypeDecorator[datetime]):
    """Timestamps stored as fixed-form UTC text; aware datetimes in Python."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else utc_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


metadata = MetaData()

SHA = String(64)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("purpose", Text, nullable=False),
    Column("review_policy", Integer, nullable=False, default=1),
    # The review date (RET-01): when the case must be reviewed (kept until a new date, or erased).
    Column("retention_until", UTCTime, nullable=True),
    Column("created_at", UTCTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("category", String(32), nullable=True),  # picks the default review period (settings)
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("settings", JSON, nullable=False, default=dict),
    Column("created_at", UTCTime, nullable=False),
)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("added_at", UTCTime, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("sha256", SHA, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mime", String(128), nullable=False),
    Column("created_at", UTCTime, nullable=False),
    Column("parent_sha256", SHA, nullable=True),
    Column("operation", String(64), nullable=True),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("removed_at", UTCTime, nullable=True),
)

items = Table(
    "items",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("sha256", SHA, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("classification", String(32), nullable=False),
    Column("title", Text, nullable=True),
    Column("created_at", UTCTime, nullable=False),
    Column("deleted_at", UTCTime, nullable=True),
    Column("deleted_by", String(128), nullable=True),
    Column("deletion_approved_by", String(128), nullable=True),
    Column("deletion_reason", Text, nullable=True),
    UniqueConstraint("case_id", "sha256", name="uq_item_case_sha"),
)

# Which artifacts belong to an item, in which role (original, sidecar, screenshot, member ...).
item_artifacts = Table(
    "item_artifacts",
    metadata,
    Column("item_id", String(32), ForeignKey("items.id"), primary_key=True),
    Column("sha256", SHA, ForeignKey("artifacts.sha256"), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("declared_type", String(128), nullable=True),
    Column("added_at", UTCTime, nullable=False),
)

sightings = Table(
    "sightings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("source", String(16), nullable=False),
    Column("seen_at", UTCTime, nullable=False),
    Column("url", Text, nullable=True),
    Column("account", Text, nullable=True),
    Column("platform", String(64), nullable=True),
    Column("posted_at", UTCTime, nullable=True),
    Column("capture_id", String(32), nullable=True),
    Column("original_name", Text, nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    Index("ix_sightings_item", "item_id"),
)

captures = Table(
    "captures",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("requested_url", Text, nullable=False),
    Column("final_url", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCTime, nullable=False),
    Column("ended_at", UTCTime, nullable=True),
    Column("record", JSON, nullable=False, default=dict),
    Index("ix_captures_case_url", "case_id", "requested_url"),
)

fingerprints = Table(
    "fingerprints",
    metadata,
    Column("artifact_sha256", SHA, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("value", Text, nullable=False),
    Column("algo_version", String(64), nullable=False),
)

flags = Table(
    "flags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("input_sha256", SHA, nullable=False),
    Column("detector", String(64), nullable=False),
    Column("version", String(32), nullable=False),
    Column("label", String(32), nullable=False),
    Column("score", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("model_sha256", SHA, nullable=True),
    Column("heatmap_sha256", SHA, nullable=True),
    Column("explanation", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("details", JSON, nullable=False, default=dict),
    Column("created_at", UTCTime, nullable=False),
    Index("ix_flags_input", "input_sha256"),
)

judgements = Table(
    "judgements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # review | adjudication
    Column("status", String(32), nullable=False),
    Column("confidence", Integer, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("strands", JSON, nullable=False, default=dict),
    Column("created_at", UTCTime, nullable=False),
    Index("ix_judgements_item", "item_id"),
)

custody_events = Table(
    "custody_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("via", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("case_id", Integer, nullable=True),
    Column("item_id", String(32), nullable=True),
    Column("artifact_sha256", SHA, nullable=True),
    Column("before_sha256", SHA, nullable=True),
    Column("after_sha256", SHA, nullable=True),
    Column("details", Text, nullable=False),
    Column("tool_version", String(32), nullable=False),
    Column("prev_hash", SHA, nullable=False),
    Column("event_hash", SHA, nullable=False),
    Index("ix_custody_item", "item_id"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tree_size", Integer, nullable=False),
    Column("root_hash", SHA, nullable=False),
    Column("signed_at", String(32), nullable=False),
    Column("key_id", SHA, nullable=False),
    Column("signature", String(128), nullable=False),
    # Not signed and not trusted by the verifier: a cache that lets the next checkpoint extend the
    # tree from here instead of re-hashing the whole log.
    Column("frontier", JSON, nullable=True),
)

# A person's decision on a near-duplicate candidate (DUP-02): only a confirmation merges sightings.
match_decisions = Table(
    "match_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("other_item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("decision", String(16), nullable=False),  # confirmed | rejected
    Column("distance", Float, nullable=True),
    Column("match", String(64), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("at", UTCTime, nullable=False),
    Index("ix_match_decisions_item", "item_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("item_id", String(32), ForeignKey("items.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("added_by", String(128), nullable=False),
    Column("added_at", UTCTime, nullable=False),
)

# Free text about an item (descriptions of distinctive features, notes, methodology steps):
# personal text lives here, never in the custody log, so erasure can remove it.
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # description | note | method_step | translation
    Column("author", String(128), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", UTCTime, nullable=False),
    Column("deleted_at", UTCTime, nullable=True),
    Index("ix_notes_item", "item_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("subject", String(64), nullable=False),  # a pseudonym, never a name
    Column("given_on", UTCTime, nullable=False),
    Column("scopes", JSON, nullable=False),  # recipient types: court, un_mechanism, partner, media, public
    Column("identity_options", JSON, nullable=False, default=dict),
    Column("withdrawn_on", UTCTime, nullable=True),
    Column("recorded_by", String(128), nullable=False),
    Index("ix_consents_item", "item_id"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("recipient_type", String(32), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("profile", String(16), nullable=False),
    Column("items", JSON, nullable=False),  # [{"item_id", "sha256"}], withheld ones with their reason
    Column("authorised_by", String(128), nullable=False),
    Column("at", UTCTime, nullable=False),
    Column("manifest_sha256", SHA, nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("progress", Float, nullable=False, default=0.0),
    Column("result", JSON, nullable=False, default=dict),
    Column("created_at", UTCTime, nullable=False),
    Column("updated_at", UTCTime, nullable=False),
    # How often a queue delivered the job (team mode): a job that keeps killing its worker stops.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
)

sessions = Table(
    "sessions",
    metadata,
    # Only the SHA-256 of a token is kept: a copy of the database does not log anyone in.
    Column("token_sha256", SHA, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("created_at", UTCTime, nullable=False),
    Column("last_active", UTCTime, nullable=False),
    Column("expires_at", UTCTime, nullable=False),
    Column("ended_at", UTCTime, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Index("ix_sessions_user", "user_id"),
)

# The steps a background job has done, each written in the transaction that did it: a job delivered again
# after its worker died skips exactly these (team mode: at-least-once delivery, exactly-once effects).
job_steps = Table(
    "job_steps",
    metadata,
    Column("job_id", String(32), ForeignKey("jobs.id"), primary_key=True),
    Column("step", String(128), primary_key=True),
    Column("at", UTCTime, nullable=False),
)

# Files uploaded in the app, staged in the database while their job waits (team mode: the worker that
# takes the job may run on another machine, and app instances share no folder). Deleted when the job
# ends, and by erasure with the job.
upload_chunks = Table(
    "upload_chunks",
    metadata,
    Column("folder", String(32), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# The app's single-use login codes (webauth): any app instance can redeem a code another made. Only the
# code's SHA-256 is kept, and the session token it hands over is sealed with a key derived from the
# code, so a copy of the database logs no one in.
login_codes = Table(
    "login_codes",
    metadata,
    Column("code_sha256", SHA, primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("expires_at", UTCTime, nullable=False),
)

# Erasure takes two accounts (RET-02): one opens a request, a different legal or admin account carries
# it out. Accounts are named by id. The reason is the legal basis, kept on the tombstone.
deletion_requests = Table(
    "deletion_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | withdrawn | approved
    Column("requested_by", Integer, ForeignKey("users.id"), nullable=False),
    Column("requested_at", UTCTime, nullable=False),
    Column("closed_by", Integer, ForeignKey("users.id"), nullable=True),
    Column("closed_at", UTCTime, nullable=True),
    # The item ids the request covers (the item and those sharing its files), erased on approval.
    Column("erased", JSON, nullable=False, default=list),
    Index("ix_deletion_requests_item", "item_id"),
)

# Translations of an item's text (LNG-03): the original stays verbatim where it is (a caption in a
# sighting or capture record, a note); each translation is a separate linked record with its language
# tags (BCP 47), who or what translated it, and when. Personal text: erased with the item.
translations = Table(
    "translations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", String(32), ForeignKey("items.id"), nullable=False),
    Column("source_ref", String(64), nullable=False),  # caption:sighting:ID | caption:capture:ID | note:ID
    Column("source_text", Text, nullable=False),  # the original as it was translated, verbatim
    Column("source_lang", String(64), nullable=True),
    Column("target_lang", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("translator_type", String(8), nullable=False),  # human | machine
    Column("translator", String(128), nullable=False),  # the person, or the tool and its version
    Column("notes", Text, nullable=False, default=""),
    Column("recorded_by", String(128), nullable=False),
    Column("created_at", UTCTime, nullable=False),
    Index("ix_translations_item", "item_id"),
)

# RFC 3161 tokens over signed checkpoints (CAP-06). A row is made at the first attempt; ``token`` stays
# empty while the authority cannot be reached, and the attempt is retried later.
timestamps = Table(
    "timestamps",
    metadata,
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=False),
    Column("tree_size", Integer, nullable=False),
    Column("root_hash", SHA, nullable=False),
    Column("tsa_url", Text, nullable=False),
    Column("token", LargeBinary, nullable=True),  # the TimeStampResp DER, as the authority sent it
    Column("tsa_chain", Text, nullable=True),  # the PEM chain the token was checked against
    Column("gen_time", String(32), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCTime, nullable=False),
)

# Scheduled fixity (PRE-02): a run re-hashes every live blob in hash order; ``cursor`` is the last hash
# checked, so a run that stopped resumes after it. ``blob_fixity`` keeps each blob's latest result.
fixity_runs = Table(
    "fixity_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("actor", String(128), nullable=False),
    Column("started_at", UTCTime, nullable=False),
    Column("finished_at", UTCTime, nullable=True),
    Column("total", Integer, nullable=False),
    Column("cursor", SHA, nullable=True),
)

blob_fixity = Table(
    "blob_fixity",
    metadata,
    Column("sha256", SHA, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # ok | changed | missing
    Column("found_sha256", SHA, nullable=True),
    Column("checked_at", UTCTime, nullable=False),
    Index("ix_blob_fixity_run", "run_id"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" hook below (pysqlite would defer BEGIN).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work beside one writer; busy_timeout makes a second writer wait, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erasure (RET-02): freed pages and cells are overwritten with zeros, so a deleted caption or
    # note does not live on in free space of the database file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
    # Search compares folded text (archive/fold.py); PostgreSQL has the same function (migration 0008).
    dbapi_connection.create_function("wb_fold", 1, fold, deterministic=True)


class Database:
    """An engine and transactions on it."""

    def __init__(self, url: str | URL) -> None:
        if isinstance(url, str) and url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # the driver installed
        self.url: str = url if isinstance(url, str) else str(url)  # str() of a URL masks its key
        self.engine: Engine = create_engine(url, future=True, **_engine_options(url))
        if self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "begin", _postgres_one_writer)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a write
            # transaction takes the lock at its start (BEGIN IMMEDIATE) and never deadlocks midway.
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
            self.engine.dialect._json_serializer = _json_dumps

    @classmethod
    def for_home(cls, home: Path, key: bytes | None = None) -> Database:
        """The home's SQLite file; with ``key``, a SQLCipher database under that raw 256-bit key."""
        path = home / "archive.sqlite3"
        if key is None:
            return cls(f"sqlite:///{path}")
        # SQLCipher's raw-key form "x'HEX'" skips its passphrase KDF: the key is random already.
        # The pysqlcipher dialect sends it as the connection's first statement (PRAGMA key).
        return cls(URL.create("sqlite+pysqlcipher", password=f"x'{key.hex()}'", database=str(path)))

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only view: a deferred transaction that never blocks writers."""
        with self.engine.connect().execution_options(wb_read_only=True) as conn:
            yield conn

    def integrity_problems(self) -> list[str]:
        """What the database engine itself says is broken (SQLite's integrity_check)."""
        if self.engine.dialect.name != "sqlite":
            return []
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA integrity_check").fetchall()
        return [str(r[0]) for r in rows if r[0] != "ok"]

    def truncate_wal(self) -> bool:
        """Copy the write-ahead log into the database and cut it to zero bytes (after an erasure the
        log still holds the pages as they were before). False when a reader kept it from finishing.

        On PostgreSQL: VACUUM the tables that hold personal text, so the erased rows leave their pages
        now rather than at the next autovacuum (the server's own WAL and backups are the operator's:
        docs/deploy.md)."""
        if self.engine.dialect.name == "postgresql":
            return self._vacuum(ERASABLE_TABLES)
        if self.engine.dialect.name != "sqlite":
            return True
        # Outside any transaction (SQLAlchemy would open one, and a checkpoint cannot run inside it).
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, _frames, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return not busy

    def _vacuum(self, tables: tuple[str, ...]) -> bool:
        # VACUUM cannot run inside a transaction block.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM " + ", ".join(tables))
        return True

    def dispose(self) -> None:
        self.engine.dispose()


# Tables whose rows an erasure removes and that can hold personal text or item ids.
ERASABLE_TABLES = (
    "items",
    "item_artifacts",
    "sightings",
    "captures",
    "notes",
    "consents",
    "tags",
    "judgements",
    "match_decisions",
    "deletion_requests",
    "jobs",
    "job_steps",
    "upload_chunks",
    "translations",
)


def _engine_options(url: str | URL) -> dict[str, Any]:
    if str(url).startswith("postgresql"):
        # JSON as SQLite keeps it (UTF-8 text, not \u escapes), so that search finds words in it.
        # JIT compiling costs more than it saves on the workbench's short queries: the visibility
        # subqueries inflate the planner's estimates past jit_above_cost (0.8 s of a 1.6 s gallery count
        # at 1M items was JIT).
        return {
            "json_serializer": _json_dumps,
            "pool_pre_ping": True,
            "connect_args": {"options": "-c jit=off"},
        }
    return {}


# One writer at a time, as SQLite's BEGIN IMMEDIATE gives: the custody log's next sequence number and
# previous hash are read and extended in the same transaction, and services check-then-insert.
WRITER_LOCK = 0x7762_7772  # "wbwr"


def _postgres_one_writer(conn: Connection) -> None:
    if not conn.get_execution_options().get("wb_read_only"):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")


def _sqlite_begin_immediate(conn: Connection) -> None:
    if conn.get_execution_options().get("wb_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)
