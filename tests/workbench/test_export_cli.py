"""`wb export` and `wb verify-package` end to end, through the real CLI, with tamper checks.

One package is made per module (module-scoped home), then copied for each tamper so that every test
changes exactly one thing and asserts that the verifier names it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import clean_env, init_home, json_lines

REPO = Path(__file__).resolve().parents[2]
BAGIT = REPO / ".venv" / "bin" / "bagit.py"
Runner = Callable[..., subprocess.CompletedProcess[str]]


def make_runner(root: Path) -> Runner:
    """Run the real `wb` in a subprocess against a home under ``root``."""
    env = clean_env()
    env.update(
        WB_HOME=str(root / "home"),
        WB_KEY=str(root / "keys" / "signing.key"),
        WB_SESSION=str(root / "session"),
    )

    def run(*args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        if args == ("init",):  # the home's first admin, logged in: the commands after it act as it
            init_home(env)
            return subprocess.CompletedProcess(args, 0, "", "")
        proc = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"wb {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def make_photo(path: Path, colour: tuple[int, int, int] = (180, 40, 40)) -> Path:
    Image.new("RGB", (96, 64), colour).save(path, "JPEG", quality=90)
    return path


def ingest(run: Runner, case: str, *paths: Path) -> list[dict[str, object]]:
    return [r for r in json_lines(run("ingest", "--case", case, "--json", *map(str, paths)).stdout)]


def rehash_manifests(bag: Path) -> None:
    """What a careful forger does after editing a payload file: make the bag's own manifests agree."""
    lines = []
    for path in sorted((bag / "data").rglob("*")):
        if path.is_file():
            rel = path.relative_to(bag).as_posix()
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}\n")
    (bag / "manifest-sha256.txt").write_text("".join(lines))
    tags = []
    for name in sorted(p.name for p in bag.iterdir() if p.is_file() and p.name != "tagmanifest-sha256.txt"):
        tags.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}\n")
    (bag / "tagmanifest-sha256.txt").write_text("".join(tags))


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Runner, list[dict[str, object]]]:
    root = tmp_path_factory.mktemp("export")
    run = make_runner(root)
    run("init")
    run("case", "create", "demo", "--purpose", "document shelling")
    stored = ingest(run, "demo", make_photo(root / "one.jpg"), make_photo(root / "two.jpg", (20, 90, 200)))
    out = root / "pkg"
    run(
        "export",
        "--case",
        "demo",
        "--profile",
        "internal",
        "--recipient",
        "Org X",
        "--recipient-type",
        "court",
        "--purpose",
        "trial",
        "--out",
        str(out),
    )
    return out, run, stored


def tampered(package: tuple[Path, Runner, list[dict[str, object]]], tmp_path: Path) -> Path:
    copy = tmp_path / "pkg"
    shutil.copytree(package[0], copy)
    return copy


def problems(run: Runner, bag: Path) -> list[dict[str, object]]:
    proc = run("verify-package", str(bag), "--json", check=1)
    return [p for p in json_lines(proc.stdout) if "summary" not in p]


def test_package_validates_with_bagit_sha256sum_and_our_verifier(package) -> None:
    bag, run, stored = package
    assert subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True).returncode == 0
    check = subprocess.run(
        ["sha256sum", "-c", "manifest-sha256.txt"], cwd=bag, capture_output=True, text=True
    )
    assert check.returncode == 0 and "FAILED" not in check.stdout
    summary = json_lines(run("verify-package", str(bag), "--json").stdout)[-1]["summary"]
    assert isinstance(summary, dict)
    assert summary["problems"] == 0 and summary["items"] == 2 and summary["events"] >= 4
    for entry in stored:
        sha = str(entry["sha256"])
        original = bag / "data" / "items" / str(entry["item_id"]) / "original" / f"{sha}.jpg"
        assert hashlib.sha256(original.read_bytes()).hexdigest() == sha


def test_tables_and_custody_lines_follow_their_published_schemas(package) -> None:
    import jsonschema

    schemas = package[0] / "data" / "schema"
    items_schema = json.loads(next(schemas.glob("items-*.schema.json")).read_text())
    jsonschema.validate(json.loads((package[0] / "data" / "items.json").read_text()), items_schema)
    event_schema = json.loads((schemas / "custody-event-1.schema.json").read_text())
    lines = (package[0] / "data" / "custody" / "events.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        jsonschema.validate(json.loads(line), event_schema)


def test_out_folder_that_is_not_empty_is_refused(package, tmp_path: Path) -> None:
    _, run, _ = package
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    proc = run(
        "export",
        "--case",
        "demo",
        "--profile",
        "internal",
        "--recipient",
        "X",
        "--recipient-type",
        "court",
        "--purpose",
        "p",
        "--out",
        str(tmp_path / "full"),
        check=2,
    )
    assert "not an empty folder" in proc.stderr


def test_one_flipped_byte_is_named_and_fast_validation_would_miss_it(package, tmp_path: Path) -> None:
    bag = tampered(package, tmp_path)
    original = next((bag / "data" / "items").glob("*/original/*.jpg"))
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0x01
    original.write_bytes(bytes(data))
    rel = original.relative_to(bag).as_posix()
    found = problems(package[1], bag)
    assert any(p["ref"] == rel and "changed" in str(p["problem"]) for p in found)
    fast = subprocess.run([str(BAGIT), "--validate", "--fast", str(bag)], capture_output=True)
    full = subprocess.run([str(BAGIT), "--validate", str(bag)], capture_output=True)
    assert fast.returncode == 0 and full.returncode != 0


def test_a_removed_file_is_named(package, tmp_path: Path) -> None:
    bag = tampered(package, tmp_path)
    sidecar = next((bag / "data" / "items").glob("*/files/sidecar-*.json"))
    sidecar.unlink()
    rel = sidecar.relative_to(bag).as_posix()
    found = problems(package[1], bag)
    assert [p for p in found if p["ref"] == rel] == [
        {"kind": "file", "ref": rel, "problem": "listed in manifest-sha256.txt but missing"}
    ]


def test_an_edited_custody_line_is_named_even_with_rewritten_manifests(package, tmp_path: Path) -> None:
    bag = tampered(package, tmp_path)
    path = bag / "data" / "custody" / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    victim = events[1]
    victim["actor"] = "someone-else"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    rehash_manifests(bag)
    found = problems(package[1], bag)
    assert found == [
        {
            "kind": "custody",
            "ref": f"event {victim['event_id']} (position {victim['seq']})",
            "problem": "event fields do not match the event's hash (the line was edited)",
        }
    ]


def test_a_recomputed_event_hash_fails_its_inclusion_proof(package, tmp_path: Path) -> None:
    from archive.custody import event_hash

    bag = tampered(package, tmp_path)
    path = bag / "data" / "custody" / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    events[0]["action"] = "item.imported.elsewhere"
    events[0]["event_hash"] = event_hash(events[0])
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    rehash_manifests(bag)
    found = problems(package[1], bag)
    assert len(found) == 1 and "inclusion proof does not lead to the signed root" in str(found[0]["problem"])


def test_a_swapped_checkpoint_signature_is_named(package, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bag = tampered(package, tmp_path)
    path = bag / "data" / "custody" / "checkpoint.json"
    cp = json.loads(path.read_text())
    cp["signature"] = Ed25519PrivateKey.generate().sign(b"another message").hex()
    path.write_text(json.dumps(cp))
    rehash_manifests(bag)
    found = problems(package[1], bag)
    assert found == [
        {
            "kind": "checkpoint",
            "ref": "data/custody/checkpoint.json",
            "problem": "signature does not verify with the package's public key",
        }
    ]


def test_an_unexpected_key_is_named(package) -> None:
    bag, run, _ = package
    proc = run("verify-package", str(bag), "--key-id", "0" * 64, check=1)
    assert "the key is not the one you expected" in proc.stdout


def test_package_report_hash_is_in_the_custody_log(package) -> None:
    from sqlalchemy import select

    from archive.db import custody_events
    from archive.home import Home
    from workbench import TOOL_VERSION

    bag = package[0]
    root = bag.parent
    sha = hashlib.sha256((bag / "data" / "report.pdf").read_bytes()).hexdigest()
    home = Home.open(root / "home", root / "keys" / "signing.key", TOOL_VERSION)
    try:
        with home.reading() as conn:
            logged = conn.execute(
                select(custody_events.c.artifact_sha256).where(custody_events.c.action == "report.generated")
            ).all()
    finally:
        home.close()
    assert [r.artifact_sha256 for r in logged] == [sha]
