"""Where things live and who acts, as INTERFACE.md fixes it."""

from __future__ import annotations

import os
from pathlib import Path

from archive.blobs import BlobStore
from archive.home import AREAS, HomeError, read_info, record_blobs

__all__ = [
    "blob_store",
    "data_key_file",
    "db_url",
    "home_path",
    "key_path",
    "queue_url",
    "remember_blobs",
    "session_path",
]


def home_path(flag: str | None) -> Path:
    """--home, else WB_HOME, else the user's data folder."""
    if flag:
        return Path(flag).expanduser()
    if env := os.environ.get("WB_HOME"):
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "wb"


def key_path() -> Path:
    """WB_KEY, else ~/.config/wb/signing.key: outside the home, so editing the home can't re-sign."""
    if env := os.environ.get("WB_KEY"):
        return Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "wb" / "signing.key"


def session_path(home_id: str) -> Path:
    """WB_SESSION, else ~/.config/wb/session-<home id>: the CLI's session token (mode 0600)."""
    if env := os.environ.get("WB_SESSION"):
        return Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "wb" / f"session-{home_id}"


def db_url() -> str | None:
    """WB_DATABASE_URL names another database (PostgreSQL); the default is SQLite in the home."""
    return os.environ.get("WB_DATABASE_URL") or None


def queue_url() -> str | None:
    """WB_QUEUE_URL (``redis://HOST:PORT/N``) sends background jobs to `wb worker`s (team mode);
    without it the app's own thread runs them."""
    return os.environ.get("WB_QUEUE_URL") or None


def blob_store(root: Path) -> BlobStore | None:
    """WB_BLOB_URL=s3://BUCKET/PREFIX names an S3-compatible object store for the blobs of the home at
    ``root`` (endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY;
    Object Lock from WB_BLOB_LOCK_MODE and WB_BLOB_RETENTION_DAYS); the default is the home's folder.

    The home remembers its store (home.json): a process without WB_BLOB_URL, or with another one,
    is refused rather than reading and writing a different set of blobs; a home whose folder already
    holds blobs does not move to a store. Each is a HomeError (a configuration error, exit 2)."""
    url = os.environ.get("WB_BLOB_URL", "").strip().rstrip("/")
    remembered = read_info(root).get("blobs") if (root / "home.json").is_file() else None
    if not url:
        if remembered:
            raise HomeError(
                f"this home keeps its blobs in {remembered}: set WB_BLOB_URL={remembered} "
                "(and AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            )
        return None
    if remembered and remembered != url:
        raise HomeError(f"WB_BLOB_URL is {url}, but this home keeps its blobs in {remembered}")
    from archive.s3blobs import S3BlobStore, S3ConfigError  # boto3 loads only in team mode

    try:
        store = S3BlobStore.from_url(url)
    except S3ConfigError as exc:
        raise HomeError(f"WB_BLOB_URL: {exc}") from None
    if remembered is None and (root / "home.json").is_file():
        if any((root / AREAS["blobs"].relpath).glob("??/??/*")):
            raise HomeError(
                f"this home keeps its blobs in its own folder ({root / AREAS['blobs'].relpath}); "
                "WB_BLOB_URL would hide them: moving a home's blobs to an object store is not supported yet"
            )
        record_blobs(root, url)
    return store


def data_key_file() -> Path | None:
    """WB_DATA_KEY_FILE: an encrypted home's data key for server processes (not the signing key)."""
    env = os.environ.get("WB_DATA_KEY_FILE")
    return Path(env).expanduser() if env else None


def remember_blobs(root: Path) -> None:
    """After `wb init` made the home: name its object store in home.json (see ``blob_store``)."""
    url = os.environ.get("WB_BLOB_URL", "").strip().rstrip("/")
    if url and not read_info(root).get("blobs"):
        record_blobs(root, url)
