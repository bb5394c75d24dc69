"""`wb`: every capability of the workbench, scriptable (see INTERFACE.md).

Exit codes: 0 all done (and intact), 1 an integrity problem or some inputs refused or failed,
2 usage or configuration error with nothing changed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from archive.errors import Refused, WorkbenchError
from archive.home import Home
from workbench import cases, config, retention, sessions, unlock
from workbench.clitools import (
    TOOL_VERSION,
    Output,
    Registrar,
    UsageError,
    acting,
    find_case,
    open_home,
    read_password,
)
from workbench.commands import COMMAND_MODULES
from workbench.commands import capture as capture_commands
from workbench.commands import encryption as encryption_commands
from workbench.commands import retention as retention_commands
from workbench.deletion import tombstones
from workbench.integrity import verify_archive
from workbench.timeline import item_timeline
from workbench.timestamping import event_stamps

__all__ = ["TOOL_VERSION", "main"]


# -- commands ------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    if args.encrypt:
        return encryption_commands.cmd_init_encrypted(args, out)
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


def cmd_case_create(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        review_on = retention.parse_date(args.review_on) if args.review_on else None
        case = retention.create_case(
            home, acting(home), args.slug, args.purpose or "", args.reviews,
            category=args.category, review_on=review_on,
        )  # fmt: skip
    review = retention.case_summary(case)["review_on"]
    out.record(
        {"case": case.slug, "id": case.id, "review_policy": case.review_policy, "review_on": review},
        f"case {case.slug} created (reviews needed: {case.review_policy}; review on {review})",
    )
    return 0


def cmd_case_list(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        for case in cases.visible_cases(home, acting(home)):
            out.record(
                {
                    "case": case.slug,
                    "id": case.id,
                    "purpose": case.purpose,
                    "review_policy": case.review_policy,
                    "review_on": retention.case_summary(case)["review_on"],
                    "category": case.category,
                },
                f"{case.slug}\t{case.purpose}",
            )
    return 0


def cmd_ingest(args: argparse.Namespace, out: Output) -> int:
    from workbench.intake import ingest_paths  # ingest's stack loads only when files come in

    counts = {"stored": 0, "duplicate": 0, "refused": 0}
    with open_home(args) as home:
        by = acting(home)
        case = find_case(home, args.case)
        for result in ingest_paths(home, case, args.paths, by, device=args.device):
            counts[result.status] += 1
            data = result.as_json()
            if result.status == "refused":
                out.error(f"{result.path}: refused: {result.reason}")
            out.record(
                data,
                f"{result.status:9} {result.sha256 or '-':64} {result.item_id or '-'} {result.path}"
                + (f"  [{result.note}]" if result.note else ""),
            )
    if not out.as_json:
        out.record(
            {},
            f"{counts['stored']} stored, {counts['duplicate']} duplicate, {counts['refused']} refused",
        )
    return 1 if counts["refused"] else 0


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


def cmd_log(args: argparse.Namespace, out: Output) -> int:
    with open_home(args) as home:
        by = acting(home)
        gone = tombstones(home, by, args.item_id)
        if gone:  # RET-02: an erased item answers when it went, not a bare refusal
            for t in gone:
                out.record(
                    t.as_record(), f"item {t.item_id} ({t.sha256}) was deleted on {t.deleted_at:%Y-%m-%d}"
                )
            return 0
        events = item_timeline(home, by, args.item_id)
        stamps = event_stamps(home, [ev.seq for ev in events])
    for ev in events:
        data = {
            "position": ev.seq,
            "event_id": ev.event_id,
            "at": ev.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": ev.actor,
            "via": ev.via,
            "action": ev.action,
            "item_id": ev.item_id,
            "artifact_sha256": ev.artifact_sha256,
            "before_sha256": ev.before_sha256,
            "after_sha256": ev.after_sha256,
            "details": dict(ev.details),
            "event_hash": ev.event_hash,
            # The time of the earliest trusted timestamp whose checkpoint holds this event.
            "tsa_time": stamps.get(ev.seq),
        }
        stamped = f"  [TSA {stamps[ev.seq]}]" if ev.seq in stamps else ""
        out.record(
            data,
            f"{ev.seq:6} {data['at']} {ev.actor} ({ev.via}) {ev.action} {ev.artifact_sha256 or ''}{stamped}",
        )
    return 0


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from workbench.serve import serve

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
    from workbench.taskqueue import run_worker

    return run_worker(
        url,
        args.threads,
        on_ready=lambda: out.error(
            f"wb: worker on {root} taking jobs from the queue (stop with Ctrl-C or SIGTERM)"
        ),
    )


# -- plumbing ------------------------------------------------------------------------------------


def _common(default: object) -> argparse.ArgumentParser:
    """--home, --as and --json; ``default`` is SUPPRESS for the copies on subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", default=default, help="archive home (default: $WB_HOME or ~/.local/share/wb)"
    )
    common.add_argument(
        "--as",
        dest="actor",
        default=default,
        help=argparse.SUPPRESS,  # refused: see main()
    )
    common.add_argument(
        "--json", action="store_true", default=False if default is None else default, help="print JSON Lines"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wb",
        description=__doc__,
        parents=[_common(None)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The flags work before or after the subcommand; after it they must not reset what came before.
    r = Registrar(parser.add_subparsers(dest="command", required=True), _common(argparse.SUPPRESS))
    p = r.add("init", cmd_init, "create the archive home and signing key (idempotent)")
    p.add_argument("--admin", metavar="NAME", help="create the first admin account (only while none exists)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the admin's password from standard input"
    )
    p.add_argument("--encrypt", action="store_true", help="encrypt the new home at rest (docs/custody.md)")
    case = r.group("case", "cases")
    p = r.add("create", cmd_case_create, "create a case", case)
    p.add_argument("slug")
    p.add_argument("--purpose", help="why this case collects (required: data minimisation)")
    p.add_argument("--reviews", type=int, default=1, help="independent reviews needed for 'verified'")
    p.add_argument(
        "--review-on", metavar="DATE", help="review date (YYYY-MM-DD; default: the category's period)"
    )
    p.add_argument("--category", help="category, which picks the default review period")
    r.add("list", cmd_case_list, "list cases", case)
    retention_commands.register(r, case)
    p = r.add("profile", capture_commands.cmd_case_profile, "the case's browser profile for captures", case)
    p.add_argument("slug")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--set", metavar="FILE", help="Playwright storage_state JSON to log captures in with")
    how.add_argument("--clear", action="store_true", help="forget the case's profile")
    p = r.add(
        "set-proxy", capture_commands.cmd_case_proxy, "the case's upstream proxy for captures (admins)", case
    )
    p.add_argument("slug")
    p.add_argument(
        "url", nargs="?", help="socks5://, socks5h:// (the proxy resolves names) or http://HOST:PORT"
    )
    p.add_argument("--clear", action="store_true", help="captures of the case connect directly again")
    p = r.add("ingest", cmd_ingest, "bring files, folders and zips into a case")
    p.add_argument("--case", required=True)
    p.add_argument("--device", help="label of the source device (phone, SD card) to record")
    p.add_argument("paths", nargs="+")
    p = r.add("verify", cmd_verify, "re-hash every file and check the custody log")
    p.add_argument("--case")
    p = r.add("log", cmd_log, "the custody timeline of an item (of an erased one: when it was deleted)")
    p.add_argument("item_id", help="an item id (for an erased item also its original's SHA-256)")
    p = r.add("serve", cmd_serve, "start the app (on 127.0.0.1 unless --address says otherwise)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1", help="listen here (team mode: behind a TLS proxy)")
    p.add_argument("--public-host", help="the Host name(s) the TLS proxy passes on, comma-separated")
    p = r.add("worker", cmd_worker, "run background jobs from the queue (team mode: WB_QUEUE_URL)")
    p.add_argument("--threads", type=int, default=1, help="jobs run at once in this worker (default 1)")
    for module in COMMAND_MODULES:
        module.register(r)
    return parser


def _said(exc: WorkbenchError) -> str:
    """The error's line: a refusal says so; a bad field gets the flag that sets it."""
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    field = getattr(exc, "field", None)
    return f"{exc} (--{field.replace('_', '-')})" if field else str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Output(args.json)
    if getattr(args, "actor", None):
        out.error("wb: --as no longer chooses who acts: log in as that account with `wb login NAME`")
        return 2
    try:
        return int(args.handler(args, out))
    except WorkbenchError as exc:  # the one place errors become exit codes (archive/errors.py)
        out.error(f"wb: {_said(exc)}")
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("wb: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
