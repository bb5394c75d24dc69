"""`wb model add|list|calibrate` as a user runs them: packs checked by SHA-256, calibrations in custody.

Built once per module (every `wb` run is a process of its own): a home with cases c1 and other, a
model pack made in the test from a tiny network, and accounts of every kind.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIRST_ADMIN, PASSWORD, clean_env, init_home, json_lines, run_wb
from tests.detectors.conftest import encode, textured
from tests.detectors.packs import tiny_pack

pytestmark = pytest.mark.model

# Reference scores far below anything the tiny network gives, so that the case's photos set the
# thresholds in force (a case calibration only ever raises them).
LOW = {"name": "20 test photos", "scores": [-1e6] * 20}


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.admin = clean_env()
        self.admin.update(
            WB_HOME=str(root / "home"), WB_KEY=str(root / "key"), WB_SESSION=str(root / "s" / FIRST_ADMIN)
        )
        init_home(self.admin)
        self.wb("case", "create", "c1", "--purpose", "calibration")
        self.wb("case", "create", "other", "--purpose", "another case")
        self.pack = tiny_pack(root / "pack", calibration=LOW)
        self.analyst = self.account("ana", "analyst", "c1")
        self.outsider = self.account("olga", "analyst", "other")
        self.legal = self.account("lena", "legal", "c1")

    def wb(
        self, *args: str, env: dict[str, str] | None = None, check: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        return run_wb(env or self.admin, *args, check=check)

    def account(self, name: str, role: str, case: str) -> dict[str, str]:
        run_wb(self.admin, "user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
        self.wb("member", "add", "--case", case, name)
        env = dict(self.admin, WB_SESSION=str(self.root / "s" / name))
        run_wb(env, "login", name, "--password-stdin", input=PASSWORD)
        return env

    def photos(self, name: str, seeds: range, size: int = 128) -> tuple[Path, list[str]]:
        folder = self.root / name
        folder.mkdir()
        hashes = []
        for s in seeds:
            data = encode(textured(size, size, seed=s))
            (folder / f"p{s}.png").write_bytes(data)
            hashes.append(hashlib.sha256(data).hexdigest())
        return folder, sorted(hashes)

    def events(self, action: str) -> list[dict[str, Any]]:
        conn = sqlite3.connect(self.root / "home" / "archive.sqlite3")
        try:
            rows = conn.execute(
                "SELECT actor, via, case_id, details FROM custody_events WHERE action = ? ORDER BY seq",
                (action,),
            ).fetchall()
        finally:
            conn.close()
        return [{"actor": a, "via": v, "case_id": c, **json.loads(d)} for a, v, c, d in rows]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World(tmp_path_factory.mktemp("models"))
    w.wb("model", "add", str(w.pack))
    return w


def test_adding_a_pack_needs_a_login_and_an_administrator(world: World, tmp_path: Path) -> None:
    other = tiny_pack(tmp_path / "p2", seed=3, name="second")
    nobody = dict(world.admin, WB_SESSION=str(tmp_path / "no-session"))
    assert "log in first" in world.wb("model", "add", str(other), env=nobody, check=2).stderr
    assert "refused" in world.wb("model", "add", str(other), env=world.analyst, check=1).stderr
    assert any(e["actor"] == "ana" and e["via"] == "cli" for e in world.events("access.denied"))
    listed = [r["name"] for r in json_lines(world.wb("model", "list", "--json", env=world.analyst).stdout)]
    assert listed == ["tiny-test"]


def test_the_registered_pack_is_listed_with_its_hash_and_copied_into_the_home(world: World) -> None:
    (row,) = json_lines(world.wb("model", "list", "--json").stdout)
    manifest = json.loads((world.pack / "manifest.json").read_text())
    assert row["model_sha256"] == manifest["weights"][0]["sha256"]
    assert "20 test photos" in row["calibration"]
    assert (Path(world.admin["WB_HOME"]) / "models" / "tiny-test" / "tiny.pth").is_file()
    (added,) = world.events("model.added")
    assert added["model_sha256"] == row["model_sha256"] and added["actor"] == FIRST_ADMIN


def test_a_pack_with_a_wrong_sha256_is_refused_and_not_registered(world: World, tmp_path: Path) -> None:
    bad = tiny_pack(tmp_path / "bad", name="bad-pack")
    (bad / "tiny.pth").write_bytes((bad / "tiny.pth").read_bytes()[:-1] + b"x")
    err = world.wb("model", "add", str(bad), check=1).stderr
    assert "refused" in err and "SHA-256" in err and "manifest states" in err
    assert "bad-pack" not in world.wb("model", "list").stdout
    assert not (Path(world.admin["WB_HOME"]) / "models" / "bad-pack").exists()


def test_a_case_calibration_moves_thresholds_and_the_custody_log_names_the_photos(world: World) -> None:
    first, first_hashes = world.photos("authentic-1", range(10, 13))
    second, second_hashes = world.photos("authentic-2", range(20, 24))
    one = json_lines(
        world.wb(
            "model", "calibrate", "--case", "c1", "--authentic", str(first), "--json", env=world.analyst
        ).stdout
    )
    two = json_lines(
        world.wb(
            "model", "calibrate", "--case", "c1", "--authentic", str(second), "--json", env=world.analyst
        ).stdout
    )
    pack_one = next(r for r in one if r.get("detector") == "pack:tiny-test")
    pack_two = next(r for r in two if r.get("detector") == "pack:tiny-test")
    assert pack_one["used"] != pack_two["used"]  # the threshold follows the authentic set
    events = [e for e in world.events("calibration.case_set") if e["actor"] == "ana"]
    assert [e["photos"] for e in events[-2:]] == [first_hashes, second_hashes]
    assert events[-1]["case_id"] is not None and events[-1]["thresholds"]["pack:tiny-test"] == pytest.approx(
        pack_two["used"], abs=1e-4
    )
    # The case's items are analysed with that calibration, and each flag says so.
    item = world.root / "item.png"
    item.write_bytes(encode(textured(128, 128, seed=99)))
    world.wb("ingest", "--case", "c1", str(item))
    (row,) = json_lines(world.wb("detect", "--case", "c1", "--json", env=world.analyst).stdout)
    (flag,) = [f for f in row["flags"] if f["detector"] == "model_pack"]
    assert (
        flag["calibration"]["kind"] == "case"
        and flag["calibration"]["id"] == f"custody {pack_two['event_id'][:12]}"
    )
    assert flag["model_sha256"] and "Case calibration" in flag["explanation"]
    # The case's own items can be marked authentic too; the custody log names their ids.
    ids = []
    for n, path in enumerate(sorted(first.iterdir())):
        (row,) = json_lines(world.wb("ingest", "--json", "--case", "c1", str(path)).stdout)
        ids.append(str(row["item_id"]))
        if n == 2:
            break
    marked = ["--item", ids[0], "--item", ids[1], "--item", ids[2]]
    world.wb("model", "calibrate", "--case", "c1", *marked, env=world.analyst)
    assert world.events("calibration.case_set")[-1]["items"] == sorted(ids)
    assert world.events("calibration.case_set")[-1]["photos"] == first_hashes


def test_case_calibration_is_refused_to_non_members_and_wrong_roles(world: World) -> None:
    folder, _ = world.photos("authentic-3", range(30, 33))
    before = len(world.events("calibration.case_set"))
    for env, who in ((world.outsider, "olga"), (world.legal, "lena")):
        err = world.wb(
            "model", "calibrate", "--case", "c1", "--authentic", str(folder), env=env, check=1
        ).stderr
        assert "refused" in err
        assert any(e["actor"] == who and e["via"] == "cli" for e in world.events("access.denied"))
    assert len(world.events("calibration.case_set")) == before


def test_an_administrator_recalibrates_a_pack_from_untouched_photos(world: World) -> None:
    folder, hashes = world.photos("untouched", range(40, 50), size=96)
    assert (
        "refused"
        in world.wb(
            "model", "calibrate", "tiny-test", "--authentic", str(folder), env=world.analyst, check=1
        ).stderr
    )
    (row,) = json_lines(
        world.wb("model", "calibrate", "tiny-test", "--authentic", str(folder), "--json").stdout
    )
    assert row["calibration"].startswith(f"10 untouched photos calibrated by {FIRST_ADMIN}")
    (event,) = world.events("model.calibrated")
    assert event["photos"] == hashes and event["n"] == 10
    # Ten photos cannot show a 5% rate: the threshold is their largest score, and the pack says so.
    assert row["rate"] == pytest.approx(1 / 11)
    assert "at most 9.1% on photos like those (too few photos to show 5%)" in world.wb("model", "list").stdout


def _generated_png() -> bytes:
    """A PNG as a Stable Diffusion v1 script writes it: its watermark and a 'parameters' text chunk."""
    import io

    from PIL import PngImagePlugin

    from tests.detectors.test_watermark import marked_sd1

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo of a cat\nSteps: 20, Sampler: Euler a, Seed: 1")
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(marked_sd1(textured(384, 384, seed=61))).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_the_ai_generation_view_lists_each_signal_apart_and_changes_nothing(world: World) -> None:
    path = world.root / "generated.png"
    path.write_bytes(_generated_png())
    (ingested,) = json_lines(world.wb("ingest", "--json", "--case", "c1", str(path)).stdout)
    item = str(ingested["item_id"])
    world.wb("detect", "--case", "c1", item, env=world.analyst)
    rows = json_lines(world.wb("model", "signals", item, "--json", env=world.analyst).stdout)
    by_signal = {r["signal"]: r for r in rows}
    assert by_signal["generator watermark"]["found"] is True
    assert "Stable Diffusion v1" in by_signal["generator watermark"]["what"]
    assert "chance of such a match" in by_signal["generator watermark"]["strength"]
    meta = by_signal["generator metadata (software names, PNG text chunks, embedded parameters)"]
    assert meta["found"] is True and "parameters" in meta["what"]
    assert by_signal["IPTC DigitalSourceType"]["found"] is False
    assert by_signal["C2PA declared source type"]["found"] is False
    (model,) = [r for r in rows if r["signal"] == "AI-generation model score"]
    assert "tiny-test" in model["what"] and "percentile" in model["strength"]  # calibrated, by the case
    assert all(set(r) == {"signal", "found", "what", "strength", "detector", "label"} for r in rows)
    text = world.wb("model", "signals", item, env=world.analyst).stdout
    assert "not a verdict" in text
    conn = sqlite3.connect(world.root / "home" / "archive.sqlite3")
    try:
        (state,) = conn.execute("SELECT status FROM items WHERE id = ?", (item,)).fetchone()
    finally:
        conn.close()
    assert state == "unverified"
    err = world.wb("model", "signals", item, env=world.outsider, check=1).stderr
    assert "refused" in err and any(e["actor"] == "olga" for e in world.events("access.denied"))


def test_survivor_identifying_items_stay_hidden_from_an_unassigned_member(world: World) -> None:
    folder, _ = world.photos("secret", range(70, 73))
    ids = []
    for path in sorted(folder.iterdir()):
        (row,) = json_lines(world.wb("ingest", "--json", "--case", "c1", str(path)).stdout)
        ids.append(str(row["item_id"]))
    world.wb("classify", ids[0], "survivor_identifying")
    before = len(world.events("calibration.case_set"))
    denied = len(world.events("access.denied"))
    # ana is a member of c1 who may judge, but is not assigned to the survivor-identifying photo.
    err = world.wb("model", "signals", ids[0], env=world.analyst, check=1).stderr
    assert "refused" in err
    marked = [a for i in ids for a in ("--item", i)]
    assert (
        "refused"
        in world.wb("model", "calibrate", "--case", "c1", *marked, env=world.analyst, check=1).stderr
    )
    assert len(world.events("calibration.case_set")) == before
    assert len(world.events("access.denied")) == denied + 2
    world.wb("model", "signals", ids[1], env=world.analyst)  # the plain photos stay open to ana


def test_wb_analyse_runs_the_home_s_packs_as_the_logged_in_account(world: World, tmp_path: Path) -> None:
    loose = tmp_path / "loose.png"
    loose.write_bytes(encode(textured(96, 96, seed=5)))
    (row,) = json_lines(world.wb("analyse", "--json", str(loose), env=world.analyst).stdout)
    (flag,) = [f for f in row["flags"] if f["detector"] == "model_pack"]
    manifest = json.loads((world.pack / "manifest.json").read_text())
    assert flag["model_sha256"] == manifest["weights"][0]["sha256"]
    (listed,) = json_lines(world.wb("model", "list", "--json").stdout)  # the pack's calibration in force
    assert listed["calibration"].startswith(flag["calibration"]["name"]) and flag["score"] is not None
    nobody = dict(world.admin, WB_SESSION=str(tmp_path / "no-session"))
    assert "log in first" in world.wb("analyse", str(loose), env=nobody, check=2).stderr
