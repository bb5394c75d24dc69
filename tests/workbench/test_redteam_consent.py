"""Red team: consent fails closed, profiles are bound to recipient types, shared packages leak nothing.

One home for the module (accounts, cases and items are made once; each test exports into its own
folders and touches only its own items). Every check goes through the real `wb` in a subprocess,
logged in as the account named; set-up uses the same services in-process (no browser: the web page
and its hidden photo are stored through ``capture_store.store_staged``, as a capture stores them).

Accounts: admin-a (admin), legal-m / analyst-m / reviewer-m (members of c1, assigned to the sensitive
items), legal-u / analyst-u (members of c1, not assigned), legal-x (member of c2 only).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import select

from archive.cases import get_case
from archive.db import custody_events
from archive.home import Home
from collectors.outcome import StagedCapture
from collectors.recorder import StagedFile
from tests.conftest import PASSWORD, clean_env, json_lines, run_wb
from workbench import TOOL_VERSION
from workbench.services import access, auth, consent
from workbench.services.capture.store import store_staged

MEMBERS = {
    "legal-m": "legal",
    "analyst-m": "analyst",
    "reviewer-m": "reviewer",
    "legal-u": "legal",
    "analyst-u": "analyst",
}
ASSIGNED = ("legal-m", "analyst-m", "reviewer-m")
NAMES = ("admin-a", *MEMBERS, "legal-x")
STATES = ("none", "scope", "withdrawn", "ok")
GOOD_SCOPES = ["court", "un_mechanism", "partner"]


def photo(path: Path, seed: int) -> Path:
    """A small JPEG with camera make, model, serial number and a GPS position in its EXIF."""
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 64, 3)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif.get_ifd(IFD.Exif)[0xA431] = f"SN{seed:09d}"
    exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 0.0)})
    Image.fromarray(pixels).save(path, "JPEG", exif=exif, quality=90)
    return path


def exif_tags(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, check=True, text=True
    )
    tags: dict[str, Any] = json.loads(out.stdout)[0]
    return tags


@dataclass
class World:
    root: Path
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    shas: dict[str, str] = field(default_factory=dict)
    hidden_bytes: bytes = b""

    def wb(self, who: str, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        return run_wb(self.envs[who], *args, check=check)

    def home(self) -> Home:
        env = self.envs["admin-a"]
        return Home.open(Path(env["WB_HOME"]), Path(env["WB_KEY"]), TOOL_VERSION)

    def denials(self, name: str) -> list[dict[str, Any]]:
        """The access.denied events recorded for ``name``."""
        home = self.home()
        try:
            with home.reading() as conn:
                q = select(custody_events).where(
                    custody_events.c.action == "access.denied", custody_events.c.actor == name
                )
                return [dict(r) for r in conn.execute(q).mappings()]
        finally:
            home.close()


def _env(root: Path, name: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        WB_HOME=str(root / "home"),
        WB_KEY=str(root / "keys" / "signing.key"),
        WB_SESSION=str(root / "sessions" / name),
    )
    return env


def _accounts(w: World, home: Home, admin: auth.Account) -> None:
    with home.transaction(admin.name) as tx:
        for name, role in [*MEMBERS.items(), ("legal-x", "legal")]:
            auth.add_user(tx, admin, name, role, PASSWORD)
        for name in MEMBERS:
            auth.add_member(tx, admin, 1, name)
        auth.add_member(tx, admin, 2, "legal-x")
    for name in NAMES[1:]:
        w.envs[name] = _env(w.root, name)
        run_wb(w.envs[name], "login", name, "--password-stdin", input=PASSWORD)


def _sensitive_items(w: World, home: Home, admin: auth.Account) -> None:
    """sv-<state> tagged sexual violence, si-<state> survivor-identifying; consent per state."""
    for kind in ("sv", "si"):
        for state in STATES:
            item = w.ids[f"{kind}-{state}"]
            if kind == "sv":
                access.tag_item(home, admin, item, access.SENSITIVE_TAG, via="cli")
            else:
                access.classify(home, admin, item, "survivor_identifying", via="cli")
            for name in ASSIGNED:
                access.assign(home, admin, item, name, via="cli")
            if state == "scope":
                consent.add_consent(home, admin, item, "P-001", ["media"])
            elif state in ("withdrawn", "ok"):
                consent.add_consent(home, admin, item, "P-002", GOOD_SCOPES)
            if state == "withdrawn":
                consent.withdraw_consent(home, admin, item, "P-002")


def _page_with_hidden_photo(w: World, home: Home, admin: auth.Account) -> None:
    """A captured page whose WARC and screenshot hold a photo that is survivor-identifying."""
    folder = w.root / "staged"
    folder.mkdir()
    w.hidden_bytes = photo(folder / "hidden.jpg", 99).read_bytes()
    warc = folder / "page.warc"
    warc.write_bytes(b"WARC/1.0\r\nWARC-Type: response\r\n\r\n" + w.hidden_bytes + b"\r\n\r\n")
    shot = folder / "shot.png"
    Image.new("RGB", (32, 24), (9, 9, 9)).save(shot, "PNG")

    def staged(role: str, path: Path, mime: str, url: str | None = None) -> StagedFile:
        data = path.read_bytes()
        return StagedFile(role, path, hashlib.sha256(data).hexdigest(), len(data), mime, url)

    url = "http://127.0.0.1:9/post/1"
    capture = StagedCapture(
        url=url, status="captured", reason=None, folder=folder,
        record={"final_url": url, "collector_id": admin.name, "title": "post"},
        files=[
            staged("warc", warc, "application/warc"),
            staged("screenshot", shot, "image/png"),
            staged("media", folder / "hidden.jpg", "image/jpeg", "http://127.0.0.1:9/p.jpg"),
        ],
    )  # fmt: skip
    with home.reading() as conn:
        case = get_case(conn, "c1")
    result = store_staged(home, case, capture, admin.name, "cli", None)
    assert result.item_id is not None and result.stored_media
    w.ids["page"], w.ids["hidden"] = result.item_id, result.stored_media[0].item_id
    w.shas["hidden"] = result.stored_media[0].sha256
    access.classify(home, admin, w.ids["hidden"], "survivor_identifying", via="cli")
    access.assign(home, admin, w.ids["hidden"], "legal-m", via="cli")
    consent.add_consent(home, admin, w.ids["hidden"], "P-009", ["court"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("redteam-consent")
    w = World(root, {"admin-a": _env(root, "admin-a")})
    run_wb(w.envs["admin-a"], "init", "--admin", "admin-a", "--password-stdin", input=PASSWORD)
    run_wb(w.envs["admin-a"], "login", "admin-a", "--password-stdin", input=PASSWORD)
    for slug in ("c1", "c2"):
        w.wb("admin-a", "case", "create", slug, "--purpose", "document attacks on civilians")
    labels = ["plain", "public", "consent-target", *(f"{k}-{s}" for k in ("sv", "si") for s in STATES)]
    paths = [photo(root / f"{label}.jpg", n) for n, label in enumerate(labels)]
    stored = json_lines(w.wb("admin-a", "ingest", "--case", "c1", "--json", *map(str, paths)).stdout)
    for label, row in zip(labels, stored, strict=True):
        w.ids[label], w.shas[label] = str(row["item_id"]), str(row["sha256"])
    home = w.home()
    try:
        with home.reading() as conn:
            admin = auth.account_by_name(conn, "admin-a")
        assert admin is not None
        _accounts(w, home, admin)
        access.classify(home, admin, w.ids["public"], "public", via="cli")
        access.classify(home, admin, w.ids["consent-target"], "survivor_identifying", via="cli")
        for name in ASSIGNED:
            access.assign(home, admin, w.ids["consent-target"], name, via="cli")
        _sensitive_items(w, home, admin)
        _page_with_hidden_photo(w, home, admin)
    finally:
        home.close()
    yield w


def export(
    w: World, who: str, out: Path, profile: str, rtype: str, *items: str, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    args = ["export", "--case", "c1", "--profile", profile, "--recipient", "Org X", "--recipient-type"]
    args += [rtype, "--purpose", "accountability", "--out", str(out), "--json"]
    if items:
        args += ["--items", *(w.ids[i] for i in items)]
    return w.wb(who, *args, check=check)


def manifest(out: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((out / "data" / "manifest.json").read_text())
    return value


def package_text(out: Path) -> str:
    """Every text the package holds, the report's included (pdftotext)."""
    parts = []
    for path in sorted(out.rglob("*")):
        if path.suffix in (".json", ".jsonl", ".csv", ".txt"):
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
        elif path.suffix == ".pdf":
            parts.append(
                subprocess.run(
                    ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
                ).stdout
            )
    return "\n".join(parts)


# --- consent fails closed ---------------------------------------------------------------------------

EXPECTED: dict[str, dict[str, str | None]] = {
    # recipient type -> state -> reason (None: exported)
    "court": {"none": "no_consent", "scope": "consent_scope", "withdrawn": "consent_withdrawn", "ok": None},
    "un_mechanism": {
        "none": "no_consent",
        "scope": "consent_scope",
        "withdrawn": "consent_withdrawn",
        "ok": None,
    },
    # in-house: a consent record must exist, its scope need not name "internal"
    "internal": {"none": "no_consent", "scope": None, "withdrawn": "consent_withdrawn", "ok": None},
    "partner": {"none": "no_consent", "scope": "consent_scope", "withdrawn": "consent_withdrawn", "ok": None},
}


@pytest.mark.parametrize("rtype", list(EXPECTED))
def test_consent_fails_closed_per_recipient_type(world: World, tmp_path: Path, rtype: str) -> None:
    profile = "partner" if rtype == "partner" else "internal"
    labels = ["plain", *(f"{k}-{s}" for k in ("sv", "si") for s in STATES)]
    out = tmp_path / "pkg"
    lines = json_lines(export(world, "legal-m", out, profile, rtype, *labels).stdout)
    withheld = {w["id"]: w["reason"] for w in manifest(out)["withheld"]}
    printed = {str(r["item_id"]): r.get("reason") for r in lines if r.get("status") == "withheld"}
    register = json_lines(world.wb("legal-m", "transfers", "--case", "c1", "--json").stdout)
    row = next(t for t in register if t["id"] == manifest(out)["transfer_id"])
    in_register = {i["item_id"]: i["withheld"] for i in row["items"] if "withheld" in i}
    for kind in ("sv", "si"):
        for state, reason in EXPECTED[rtype].items():
            if kind == "si" and rtype == "partner" and state != "withdrawn":
                reason = "classification"  # survivor-identifying never goes out under the partner profile
            item = world.ids[f"{kind}-{state}"]
            assert withheld.get(item) == reason, (kind, state)
            assert printed.get(item) == reason and in_register.get(item) == reason, (kind, state)
            assert (out / "data" / "items" / item).is_dir() == (reason is None), (kind, state)
    assert (out / "data" / "items" / world.ids["plain"]).is_dir()
    detail = next(w["detail"] for w in manifest(out)["withheld"] if w["id"] == world.ids["sv-none"])
    assert "consent record" in detail and "P-0" not in json.dumps(manifest(out))  # no pseudonyms


def test_a_profile_above_the_recipient_type_is_refused_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    before = len(json_lines(world.wb("legal-m", "transfers", "--json").stdout))
    for n, (profile, rtype) in enumerate(
        [("internal", "media"), ("internal", "public"), ("internal", "partner"), ("partner", "media")]
    ):
        out = tmp_path / f"pkg{n}"
        proc = export(world, "legal-m", out, profile, rtype, "public", check=2)
        assert f"the {profile} profile may not go to a {rtype} recipient" in proc.stderr
        assert not out.exists()
    assert len(json_lines(world.wb("legal-m", "transfers", "--json").stdout)) == before


# --- what shared packages carry ---------------------------------------------------------------------


def test_partner_and_public_packages_carry_no_gps_or_serial(world: World, tmp_path: Path) -> None:
    original = world.root / "plain.jpg"
    assert any("GPS" in k for k in exif_tags(original)) and "ExifIFD:SerialNumber" in exif_tags(original)
    for profile, rtype, label in (("partner", "partner", "plain"), ("public", "media", "public")):
        out = tmp_path / profile
        export(world, "legal-m", out, profile, rtype, label)
        files = [p for p in (out / "data" / "items").rglob("*") if p.is_file() and p.suffix != ".json"]
        assert files, profile
        for path in files:
            tags = exif_tags(path)
            assert not [k for k in tags if "gps" in k.lower() or "serial" in k.lower()], (profile, path)
            assert not [k for k in tags if k.lower().endswith((":make", ":model"))], (profile, path)
            assert world.shas[label] not in path.name
        entry = manifest(out)["items"][0]
        assert entry["sha256"] == world.shas[label]  # the original's hash is still listed ...
        shared = entry["shared_copy"]  # ... with the derivation of the copy that was sent
        assert shared["parent_sha256"] == world.shas[label] and shared["operation"] == "metadata-strip"
        assert shared["sha256"] in {p.name.split(".")[0] for p in files}
        world.wb("legal-m", "verify-package", str(out))


def test_shared_packages_name_no_account_and_no_earlier_transfer(world: World, tmp_path: Path) -> None:
    court = tmp_path / "court"
    export(world, "legal-m", court, "internal", "court", "public")
    assert "legal-m" in (court / "data" / "custody" / "events.jsonl").read_text()  # court: the full record
    assert "public.jpg" in package_text(court)  # the item's title (its file name) goes to a court
    assert "What this profile leaves out" not in (court / "README.txt").read_text()
    for profile, rtype in (("partner", "partner"), ("public", "public")):
        out = tmp_path / profile
        export(world, "legal-m", out, profile, rtype, "public")
        text = package_text(out)
        for name in (*NAMES, "public.jpg"):  # accounts, and the title: a file name can name a person
            assert name not in text, (profile, name)
        assert "item titles" in (out / "README.txt").read_text()  # the README says what was left out
        transfer = manifest(out)["transfer_id"]
        events = [json.loads(line) for line in (out / "data/custody/events.jsonl").read_text().splitlines()]
        assert events and {e["actor"] for e in events} == {"(withheld)"}
        for e in events:
            if e["action"].startswith("export.") or e["action"] == "report.generated":
                assert json.loads(e["details"])["transfer_id"] == transfer, (profile, e["action"])
        assert not {e["action"] for e in events} & {"item.assigned", "consent.recorded", "item.classified"}
        world.wb("legal-m", "verify-package", str(out))


def test_an_edited_shared_event_is_named_by_the_verifier(world: World, tmp_path: Path) -> None:
    out = tmp_path / "public"
    export(world, "legal-m", out, "public", "public", "public")
    path = out / "data/custody/events.jsonl"
    lines = path.read_text().splitlines()
    event = json.loads(lines[0])
    event["action"] = "item.forged"
    path.write_text("\n".join([json.dumps(event), *lines[1:]]) + "\n")
    from tests.workbench.test_export_cli import rehash_manifests

    rehash_manifests(out)
    proc = world.wb("legal-m", "verify-package", str(out), "--json", check=1)
    problems = [p for p in json_lines(proc.stdout) if "summary" not in p]
    assert any("attestation signature does not verify" in str(p["problem"]) for p in problems)


# --- who may record consent, who may export, what the register shows --------------------------------


@pytest.mark.parametrize("who", ["legal-x", "analyst-u", "reviewer-m"])
def test_consent_changes_by_a_non_member_an_unassigned_member_or_a_wrong_role_are_refused_and_logged(
    world: World, who: str
) -> None:
    item = world.ids["consent-target"]
    before = len(world.denials(who))
    add = world.wb(who, "consent", "add", item, "--subject", "P-777", "--scope", "media", check=1)
    withdraw = world.wb(who, "consent", "withdraw", item, "--subject", "P-777", check=1)
    for proc in (add, withdraw):
        assert "refused" in proc.stderr
    denied = world.denials(who)[before:]
    assert len(denied) == 2 and {d["via"] for d in denied} == {"cli"}
    assert {d["item_id"] for d in denied} == {item}
    records = json_lines(world.wb("admin-a", "consent", "list", item, "--json").stdout)
    assert not [r for r in records if r.get("subject") == "P-777"]


def test_a_permitted_member_records_and_withdraws_consent(world: World) -> None:
    item = world.ids["consent-target"]
    world.wb("analyst-m", "consent", "add", item, "--subject", "P-100", "--scope", "court")
    world.wb("legal-m", "consent", "withdraw", item, "--subject", "P-100")
    records = json_lines(world.wb("legal-m", "consent", "list", item, "--json").stdout)
    mine = [r for r in records if r.get("subject") == "P-100"]
    assert len(mine) == 1 and mine[0]["recorded_by"] == "analyst-m" and mine[0]["withdrawn_on"]


@pytest.mark.parametrize(("who", "why"), [("legal-x", "non-member"), ("analyst-m", "wrong role")])
def test_export_by_a_non_member_or_a_wrong_role_is_refused_and_logged(
    world: World, tmp_path: Path, who: str, why: str
) -> None:
    before = len(world.denials(who))
    out = tmp_path / "pkg"
    proc = export(world, who, out, "internal", "court", check=1)
    assert "refused" in proc.stderr and not out.exists(), why
    denied = world.denials(who)[before:]
    assert len(denied) == 1 and denied[0]["via"] == "cli" and denied[0]["case_id"] == 1


def test_a_hidden_photos_container_page_is_not_in_an_unassigned_legal_users_package(
    world: World, tmp_path: Path
) -> None:
    out = tmp_path / "unassigned"
    export(world, "legal-u", out, "internal", "court", "page", "plain")
    withheld = {w["id"]: w for w in manifest(out)["withheld"]}
    assert withheld[world.ids["page"]]["reason"] == "restricted_content"
    assert "restricted content withheld" in withheld[world.ids["page"]]["detail"]
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert world.hidden_bytes not in data, path
            assert world.ids["hidden"].encode() not in data and world.shas["hidden"].encode() not in data, (
                path
            )
    # the same page does travel, WARC and all, to a legal user assigned to the photo
    full = tmp_path / "assigned"
    export(world, "legal-m", full, "internal", "court", "page")
    assert any(world.hidden_bytes in p.read_bytes() for p in full.rglob("*.warc"))


@pytest.mark.parametrize(("profile", "rtype"), [("internal", "un_mechanism"), ("partner", "partner")])
def test_a_page_does_not_carry_a_photo_that_may_not_leave_in_this_export(
    world: World, tmp_path: Path, profile: str, rtype: str
) -> None:
    """The photo's consent covers courts only (and it is survivor-identifying): its page's WARC and
    screenshot stay home when it may not go, even for an exporter assigned to it."""
    out = tmp_path / "pkg"
    export(world, "legal-m", out, profile, rtype, "page", "hidden", "plain")
    withheld = {w["id"]: w["reason"] for w in manifest(out)["withheld"]}
    assert withheld[world.ids["page"]] == "restricted_content"
    assert withheld[world.ids["hidden"]] == ("consent_scope" if profile == "internal" else "classification")
    for path in out.rglob("*"):
        assert not path.is_file() or world.hidden_bytes not in path.read_bytes(), path


def test_transfers_and_consent_lists_show_only_what_the_account_may_see(world: World, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    export(world, "legal-m", out, "internal", "court", "plain", "si-ok")
    transfer = manifest(out)["transfer_id"]
    row = next(
        t for t in json_lines(world.wb("legal-u", "transfers", "--json").stdout) if t["id"] == transfer
    )
    assert [i["item_id"] for i in row["items"]] == [world.ids["plain"]] and row["items_restricted"] == 1
    assert world.ids["si-ok"] not in json.dumps(row) and world.shas["si-ok"] not in json.dumps(row)
    assert not json_lines(world.wb("legal-x", "transfers", "--json").stdout)  # c2 has none
    world.wb("legal-x", "transfers", "--case", "c1", check=1)
    world.wb("analyst-m", "transfers", check=1)
    for who in ("legal-u", "legal-x"):
        proc = world.wb(who, "consent", "list", world.ids["si-ok"], check=1)
        assert "refused" in proc.stderr and "P-002" not in proc.stdout
    listed = json_lines(world.wb("legal-m", "consent", "list", world.ids["si-ok"], "--json").stdout)
    assert listed[0]["subject"] == "P-002"


# --- the app: the item page shows consent and lets permitted roles record and withdraw it ------------


@pytest.fixture
def app_world(home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from tests.workbench.app_fixtures import make_world

    monkeypatch.setenv("WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WB_KEY", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.setenv("WB_JOBS_WORKER", "0")
    yield make_world(home, reviews=1, n_items=1)


def _item_page(name: str, item_id: str) -> Any:
    from streamlit.testing.v1 import AppTest

    from tests.workbench.app_fixtures import PASSWORD as APP_PASSWORD

    app = str(Path(__file__).resolve().parents[2] / "workbench" / "app" / "main.py")
    at = AppTest.from_file(app, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(APP_PASSWORD)
    next(b for b in at.button if b.label == "Log in").click().run()
    at.button(key=f"open_{item_id}").click().run()
    assert not at.exception, at.exception
    return at


def _click(at: Any, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def test_the_item_page_shows_consent_and_an_analyst_records_and_withdraws_it(app_world: Any) -> None:
    item = app_world.items[0]
    at = _item_page("analyst", item)
    assert "no consent record" in [t.value for t in at.text]
    at.text_input(key="consent_subject").input("P-321")
    at.multiselect(key="consent_scopes").set_value(["court", "un_mechanism"])
    _click(at, "Record consent")
    assert "consent: court, un_mechanism" in [t.value for t in at.text]
    assert "P-321" in at.dataframe[-1].value.to_string()
    # a second person's consent narrows what an export may reach to what both records name
    at.text_input(key="consent_subject").input("P-322")
    at.multiselect(key="consent_scopes").set_value(["court"])
    _click(at, "Record consent")
    assert "consent: court" in [t.value for t in at.text]
    at.selectbox(key="consent_withdraw_subject").set_value("P-321")
    _click(at, "Record withdrawal (blocks every export of this item)")
    assert "consent withdrawn" in [t.value for t in at.text]
    with app_world.home.reading() as conn:
        rows = conn.execute(
            select(custody_events.c.action, custody_events.c.via, custody_events.c.actor).where(
                custody_events.c.item_id == item, custody_events.c.action.like("consent.%")
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("consent.recorded", "app", "analyst"),
        ("consent.recorded", "app", "analyst"),
        ("consent.withdrawn", "app", "analyst"),
    ]


def test_a_reviewer_sees_the_consent_records_but_cannot_change_them(app_world: Any) -> None:
    item = app_world.items[0]
    consent.add_consent(app_world.home, app_world.legal, item, "P-654", ["court"], via="cli")
    at = _item_page("reviewer", item)
    texts = [t.value for t in at.text]
    assert "consent: court" in texts and "Consent is recorded by analysts, legal staff and admins." in texts
    assert "consent_subject" not in {w.key for w in at.text_input}
    with pytest.raises(auth.AccessDenied):
        consent.withdraw_consent(app_world.home, app_world.reviewer, item, "P-654", via="app")
    assert [d["via"] for d in _denied(app_world.home, "reviewer")] == ["app"]


def _denied(home: Home, name: str) -> list[dict[str, Any]]:
    with home.reading() as conn:
        q = select(custody_events).where(
            custody_events.c.action == "access.denied", custody_events.c.actor == name
        )
        return [dict(r) for r in conn.execute(q).mappings()]


# --- the profile rules themselves, on plain records ------------------------------------------------


def test_shared_records_and_events_drop_names_other_files_and_earlier_transfers() -> None:
    from archive.export.profiles import WITHHELD, shared_events, shared_record
    from archive.model import ItemRecord

    own, other = "a" * 64, "b" * 64
    record: dict[str, Any] = {
        "item": {"id": "i1", "sha256": own, "title": "zqtitle jane doe.jpg"},
        "artifacts": [{"sha256": own, "role": "original"}],
        "judgements": [{"reviewer": "rev-1", "rationale": "consistent", "strands": {"x": 1}}],
        "notes": [{"author": "ana", "body": "note"}],
        "tags": [{"item_id": "i1", "tag": "assigned:7", "added_by": "ana"}, {"item_id": "i1", "tag": "t"}],
        "consents": [{"id": 1, "subject": "P-001", "recorded_by": "ana", "scopes": ["partner"]}],
        "captures": [
            {
                "requested_url": "https://x.example/zqhandle/1",
                "final_url": "https://x.example/zqhandle/1?s=2",
                "record": {
                    "collector_id": "ana",
                    "started_at": "2026-12-06T10:00:00Z",
                    "artifacts": [{"sha256": own}, {"sha256": other}],
                    "requested_url": "https://x.example/zqhandle/1",
                    "redirect_chain": [{"url": "https://x.example/zqhandle/1"}],
                    "post": {"author": "zqauthor", "url": "https://x.example/zqhandle/1"},
                    "tls_certificate": {"subject": "x.example"},
                },
            }
        ],
        "sightings": [
            {"original_name": "/home/ana/p.jpg", "details": {"device": "Ana's phone"}},
            {
                "url": "https://x.example/zqhandle/1",
                "account": "zqhandle",
                "platform": "x",
                "details": {"display_name": "zqdisplay", "post_id": "1", "final_url": "https://x.example/zq"},
            },
            {"details": {"kind": "media", "page_url": "https://x.example/zqpage"}},
            {"details": {"kind": "zip-member", "member": "zqmember jane doe.png"}},
        ],
    }
    for profile in ("partner", "public"):
        shared = shared_record(ItemRecord.from_json(record), profile).as_json()
        text = json.dumps(shared)
        for secret in ("rev-1", "ana", "P-001", "assigned:", other, "Ana's phone", "zq", "x.example"):
            assert secret not in text, (profile, secret)
        assert shared["captures"][0]["record"]["artifacts"] == [{"sha256": own}]
        assert shared["captures"][0]["record"]["started_at"] == "2026-12-06T10:00:00Z"
        assert "redirect_chain" in shared["captures"][0]["record"]["withheld_fields"]
        assert shared["item"]["title"] == WITHHELD and shared["sightings"][1]["platform"] == "x"
        assert (shared["judgements"][0]["rationale"] == WITHHELD) == (profile == "public")
    assert shared_record(ItemRecord.from_json(record), "internal").as_json() == record
    events = [
        {"seq": 1, "action": "item.ingested", "actor": "ana", "details": "{}"},
        {"seq": 2, "action": "item.assigned", "actor": "ana", "details": "{}"},
        {"seq": 3, "action": "export.transfer", "actor": "leg", "details": '{"transfer_id":"old"}'},
        {"seq": 4, "action": "export.transfer", "actor": "leg", "details": '{"transfer_id":"new"}'},
    ]
    kept = shared_events(events, "partner", "new")
    assert [e["seq"] for e in kept] == [1, 4] and {e["actor"] for e in kept} == {WITHHELD}
    assert shared_events(events, "internal", "new") == events
