"""The home's own commands: `wb init`, `verify`, `serve`, `worker`, `fixity`, `timestamps`, `migrate`,
`encrypt` and `key` (INTERFACE.md). What touches case data goes through ``workbench.services``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from archive.home import ENCRYPTED_OBJECT_STORE, Home, HomeError, read_info
from archive.keys import RECOVERY_SLOT, DataKey, Locked, WrongKey, new_recovery_key
from archive.signing import SigningKeyError
from workbench import TOOL_VERSION
from workbench.cli.tools import (
    Output,
    Registrar,
    UsageError,
    acting,
    find_case,
    open_home,
    read_password,
)
from workbench.services import (
    auth,
    config,
    dbmove,
    encrypt_home,
    encryption,
    fixity,
    sessions,
    timestamping,
    unlock,
)
from workbench.services.auth import AuthError
from workbench.services.integrity import verify_archive

__all__ = ["register"]


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    if args.encrypt:
        return cmd_init_encrypted(args, out)
    root = config.home_path(args.home)
    blobs = config.blob_store(root)
    key = unlock.data_key(root)  # an encrypted home is unlocked as for any command
    home = Home.init(root, config.key_path(), TOOL_VERSION, config.db_url(), blobs, data_key=key)
    config.remember_blobs(root)
    try:
        admin = _first_admin(home, args)
    finally:
        home.close()
    out.record(
        {
            "home": str(home.root),
            "key": str(home.signer.path),
            "key_id": home.signer.verifier.key_id,
            "admin": admin,
        },
        f"archive home ready at {home.root} (signing key {home.signer.path})"
        + (f"; first admin {admin} created: wb login {admin}" if admin else ""),
    )
    return 0


def _first_admin(home: Home, args: argparse.Namespace) -> str | None:
    """``--admin NAME`` (or a prompt on a terminal) makes the first admin while no account exists."""
    if sessions.has_accounts(home):
        if args.admin:
            raise UsageError("this home has accounts already: an admin adds more with `wb user add`")
        return None
    name = args.admin
    if not name:
        if args.password_stdin or not sys.stdin.isatty():
            return None
        name = input("No account exists yet. Name of the first admin (empty to skip): ").strip()
        if not name:
            return None
    password = read_password(args.password_stdin, f"Password for {name}: ", confirm=True)
    return sessions.create_first_admin(home, name, password, "cli").name


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        case_id = find_case(home, args.case).id if args.case else None
        report = verify_archive(home, by, case_id)
    for p in report.problems:
        where = f" at position {p.position}" if p.position is not None else ""
        out.record(p.as_json(), f"PROBLEM {p.kind} {p.ref}{where}: {p.problem}")
    summary = {"blobs": report.blobs, "events": report.events, "problems": len(report.problems)}
    verdict = "intact" if report.intact else "NOT INTACT"
    out.record(
        {"summary": summary},
        f"{verdict}: {report.blobs} files re-hashed, {report.events} custody events checked, "
        f"{len(report.problems)} problems",
    )
    return 0 if report.intact else 1


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from workbench.app.serve import serve

    root = config.home_path(args.home)
    if not (root / "home.json").is_file():
        raise UsageError(f"no archive home at {root}: run `wb init` first")
    key = unlock.data_key(root)  # a key file, or the session of the user who starts the app
    with unlock.key_file_for_children(root, key):
        return serve(root, args.port, args.address, args.public_host or "")


def cmd_worker(args: argparse.Namespace, out: Output) -> int:
    url = config.queue_url()
    if url is None:
        raise UsageError("no queue: set WB_QUEUE_URL=redis://HOST:PORT/N (team mode; see docs/deploy.md)")
    root = config.home_path(args.home)
    if not (root / "home.json").is_file():
        raise UsageError(f"no archive home at {root}: run `wb init` first")
    os.environ["WB_HOME"] = str(root)  # the worker's jobs open this home
    from workbench.services.taskqueue import run_worker

    return run_worker(
        url,
        args.threads,
        on_ready=lambda: out.error(
            f"wb: worker on {root} taking jobs from the queue (stop with Ctrl-C or SIGTERM)"
        ),
    )


PROBLEMS = {
    "changed": "content changed: now hashes to {found}",
    "missing": "file missing",
    "unreadable": "file unreadable",
}


def cmd_fixity(args: argparse.Namespace, out: Output) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit is a number of files, 1 or more")
    with open_home(args) as home:
        by = acting(home)
        if args.every is not None:
            fixity.set_schedule(home, by, args.every)
            out.record({"every_days": args.every}, f"fixity runs every {args.every} day(s) (0: never)")
            return 0
        show = not out.as_json and sys.stderr.isatty()
        run = fixity.run_fixity(home, by, limit=args.limit, progress=_progress if show else None)
        if show:
            sys.stderr.write("\n")
    for f in run.failed:
        out.record(
            {"kind": "blob", "ref": f["sha256"], "position": None, "problem": _problem(f)},
            f"PROBLEM blob {f['sha256']}: {_problem(f)}",
        )
    for p in run.chain_problems:
        where = f" at position {p.position}" if p.position is not None else ""
        out.record(
            {"kind": p.kind, "ref": p.ref, "position": p.position, "problem": p.problem},
            f"PROBLEM {p.kind} {p.ref}{where}: {p.problem}",
        )
    problems = len(run.failed) + len(run.chain_problems)
    summary = {
        "blobs": run.checked,
        "events": run.events,
        "problems": problems,
        "run_id": run.run_id,
        "resumed": run.resumed,
        "finished": run.finished,
    }
    if not run.finished:
        line = (
            f"fixity run {run.run_id} stopped after {run.checked} of {run.total} files: "
            "run wb fixity again to resume"
        )
    else:
        verdict = "intact" if not problems else "NOT INTACT"
        line = (
            f"{verdict}: {run.checked} files re-hashed, {run.events} custody events checked, "
            f"{problems} problems (fixity run {run.run_id}{', resumed' if run.resumed else ''})"
        )
    out.record({"summary": summary}, line)
    return 1 if problems else 0


def _progress(done: int, total: int) -> None:
    """A one-line progress bar on standard error (only on a terminal)."""
    filled = int(30 * done / max(1, total))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} files")
    sys.stderr.flush()


def _problem(failure: dict[str, object]) -> str:
    return PROBLEMS.get(str(failure["state"]), str(failure["state"])).format(
        found=failure.get("found_sha256")
    )


def cmd_timestamps(args: argparse.Namespace, out: Output) -> int:
    if bool(args.set_url) != bool(args.ca):
        raise UsageError("--set-url and --ca go together: the authority's address and its PEM chain")
    with open_home(args) as home:
        by = acting(home)
        if args.set_url:
            timestamping.configure_tsa(home, by, args.set_url, _read(args.ca))
            out.record({"tsa_url": args.set_url}, f"trusted timestamps from {args.set_url}")
            return 0
        if args.clear:
            timestamping.clear_tsa(home, by)
            out.record({"tsa_url": None}, "trusted timestamps off (tokens already kept stay)")
            return 0
        if args.retry:
            done, errors = timestamping.retry_timestamps(home, by)
            for error in errors:
                out.error(f"wb: trusted timestamp delayed: {error}")
            out.record({"stamped": done, "errors": errors}, f"{done} checkpoint(s) stamped")
            return 1 if errors else 0
        status = timestamping.timestamp_status(home, by)
    for t in status.tokens:
        when = t.gen_time or f"pending after {t.attempts} attempt(s): {t.last_error}"
        out.record(t.as_json(), f"checkpoint {t.checkpoint_id} (events 1..{t.tree_size}) {t.status} {when}")
    url = status.tsa_url
    out.record(
        {"summary": {"tsa_url": url, "tokens": len(status.tokens)}},
        f"authority: {url or 'none configured'}; {len(status.tokens)} checkpoint(s) tried",
    )
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None


def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        try:
            moved = dbmove.move_database(home, by, args.to, keep_source=args.keep_source)
        except dbmove.CopyMismatch as exc:
            out.error(f"wb migrate: {exc}; the home still uses its old database")
            return 1
    out.record(
        {
            "status": "migrated",
            "target": moved.target,
            "tables": len(moved.tables),
            "rows": moved.rows,
            "events": moved.events,
            "blobs": moved.blobs,
            "source_removed": moved.source_removed,
        },
        f"database moved to {moved.target}: {moved.rows} rows in {len(moved.tables)} tables, "
        f"{moved.events} custody events and {moved.blobs} files verified"
        + (f"; removed {', '.join(moved.source_removed)}" if moved.source_removed else ""),
    )
    return 0


def cmd_init_encrypted(args: argparse.Namespace, out: Output) -> int:
    """A new encrypted home with its first admin (whose password unlocks it) and a recovery key."""
    root = config.home_path(args.home)
    if os.environ.get("WB_BLOB_URL"):
        raise UsageError(ENCRYPTED_OBJECT_STORE)
    if (root / "home.json").is_file():
        if not read_info(root).get("encryption"):
            raise UsageError(f"{root} is a plain home: `wb encrypt` converts it in place")
        with open_home(args) as home:  # idempotent, as wb init is: unlocked by the session
            out.record({"home": str(home.root), "encrypted": True}, f"encrypted home ready at {home.root}")
        return 0
    name = args.admin or (None if args.password_stdin or not sys.stdin.isatty() else input("First admin: "))
    if not name:
        raise UsageError("an encrypted home needs its first admin: --admin NAME (their password unlocks it)")
    password = read_password(args.password_stdin, f"Password for {name}: ", confirm=True)
    if len(password) < auth.MIN_PASSWORD:
        raise UsageError(f"the password must have at least {auth.MIN_PASSWORD} characters")
    recovery = _create(root, name, password)
    out.record(
        {"home": str(root), "encrypted": True, "admin": name, "recovery_key": recovery},
        f"encrypted archive home ready at {root}; first admin {name} created: wb login {name}; "
        f"RECOVERY KEY (shown once; write it down and keep it apart from this machine): {recovery}",
    )
    return 0


def _create(root: Path, name: str, password: str) -> str:
    existed = root.exists()
    key = DataKey.generate()
    try:
        home = Home.init(root, config.key_path(), TOOL_VERSION, config.db_url(), data_key=key)
        try:
            sessions.create_first_admin(home, name, password, "cli")
            recovery = new_recovery_key()
            assert home.keyring is not None
            home.keyring.add_slot(key, RECOVERY_SLOT, recovery)
        finally:
            home.close()
    except BaseException:
        if not existed:  # a half-made home nobody could unlock: leave nothing behind
            shutil.rmtree(root, ignore_errors=True)
        raise
    return recovery


def cmd_encrypt(args: argparse.Namespace, out: Output) -> int:
    """Convert a plain home in place; run it again after a crash to finish."""
    root = config.home_path(args.home)
    if os.environ.get("WB_BLOB_URL") or ((root / "home.json").is_file() and read_info(root).get("blobs")):
        raise UsageError(ENCRYPTED_OBJECT_STORE)  # its blobs are in the store, out of the conversion's reach
    password = read_password(args.password_stdin, f"Password of {args.admin}: ")
    progress = out.error if args.verbose else None
    try:
        done = encrypt_home.convert_home(
            root, config.key_path(), TOOL_VERSION, args.admin, password, progress
        )
    except (HomeError, Locked, WrongKey, SigningKeyError, encrypt_home.ConvertError, AuthError) as exc:
        raise UsageError(f"{exc}; nothing more was changed") from None
    for p in done.problems:
        out.error(f"{p.kind} {p.ref}: {p.problem}")
    line = f"home at {root} is encrypted: {done.blobs} files and {done.events} events verified"
    if done.needs_password:
        line += f"; an admin sets a new password for {', '.join(done.needs_password)} to give them a key slot"
    if done.recovery_key:
        line += f"; RECOVERY KEY (shown once; write it down): {done.recovery_key}"
    data = {"home": str(root), "blobs": done.blobs, "events": done.events, "problems": len(done.problems),
            "needs_password": done.needs_password, "recovery_key": done.recovery_key}  # fmt: skip
    out.record(data, line)
    return 1 if done.problems else 0


def cmd_key_export(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        encryption.export_data_key(home, acting(home), Path(args.out))
    out.record({"key_file": args.out}, f"data key written to {args.out} (keep it as safe as the evidence)")
    return 0


def cmd_key_locate(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        where = encryption.locate_blob(home, acting(home), args.sha256)
    out.record({"sha256": args.sha256, "file": where}, where)
    return 0


def register(r: Registrar) -> None:
    """Add the home's own commands: init, verify, serve, worker, fixity, timestamps, migrate, encrypt, key."""
    p = r.add("init", cmd_init, "create the archive home and signing key (idempotent)")
    p.add_argument("--admin", metavar="NAME", help="create the first admin account (only while none exists)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the admin's password from standard input"
    )
    p.add_argument("--encrypt", action="store_true", help="encrypt the new home at rest (docs/custody.md)")
    p = r.add("verify", cmd_verify, "re-hash every file and check the custody log")
    p.add_argument("--case")
    p = r.add("serve", cmd_serve, "start the app (on 127.0.0.1 unless --address says otherwise)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1", help="listen here (team mode: behind a TLS proxy)")
    p.add_argument("--public-host", help="the Host name(s) the TLS proxy passes on, comma-separated")
    p = r.add("worker", cmd_worker, "run background jobs from the queue (team mode: WB_QUEUE_URL)")
    p.add_argument("--threads", type=int, default=1, help="jobs run at once in this worker (default 1)")
    p = r.add("fixity", cmd_fixity, "re-hash every stored file and record the run (admins)")
    p.add_argument("--limit", type=int, help="stop after N files; the next run resumes there")
    p.add_argument("--every", type=int, metavar="DAYS", help="set the app's schedule (0: never)")
    p = r.add("timestamps", cmd_timestamps, "trusted timestamps (RFC 3161) over the custody log")
    p.add_argument("--retry", action="store_true", help="stamp every checkpoint still waiting, now")
    p.add_argument("--set-url", metavar="URL", help="the RFC 3161 authority to use (admin)")
    p.add_argument("--ca", metavar="FILE", help="with --set-url: PEM file of the authority's chain")
    p.add_argument("--clear", action="store_true", help="stop stamping (admin)")
    p = r.add("migrate", cmd_migrate, "move the home's database to another engine (PostgreSQL), verified")
    p.add_argument(
        "--to", required=True, metavar="URL", help="an empty database: postgresql://USER@HOST:PORT/DB"
    )
    p.add_argument("--keep-source", action="store_true", help="keep the old SQLite file")
    p = r.add("encrypt", cmd_encrypt, "encrypt a plain home in place (resumable: run again after a crash)")
    p.add_argument(
        "--admin", required=True, metavar="NAME", help="your admin account (its password seals the key)"
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--verbose", action="store_true", help="one line per sealed file on standard error")
    key = r.group("key", "the data key of an encrypted home (admins)")
    p = r.add("export", cmd_key_export, "write the data key (an age identity) to a new file", key)
    p.add_argument("--out", required=True, help="a new file (0600)")
    p = r.add("locate", cmd_key_locate, "the file that holds a blob (its keyed name)", key)
    p.add_argument("sha256")
