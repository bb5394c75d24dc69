"""What may leave: classification against the profile, consent scope, withdrawal, and the register.

Everything goes through the real `wb` CLI, as the first admin unless a test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import update

from archive.home import Home
from tests.conftest import RunWb, json_lines
from tests.workbench.test_export_cli import make_photo
from workbench import TOOL_VERSION


def _setup(wb: RunWb, tmp_path: Path, n: int = 2) -> list[dict[str, object]]:
    wb("init")
    wb("case", "create", "demo", "--purpose", "document shelling")
    photos = [make_photo(tmp_path / f"p{i}.jpg", (40 * i, 90, 200 - 30 * i)) for i in range(n)]
    return json_lines(wb("ingest", "--case", "demo", "--json", *map(str, photos)).stdout)


def _classify(wb: RunWb, item_id: str, level: str) -> None:
    """Through `wb classify` as the first admin, who stays assigned to a survivor-identifying item."""
    wb("classify", item_id, level)


def _export(
    wb: RunWb,
    out: Path,
    profile: str,
    rtype: str,
    *extra: str,
    check: int = 0,
    env: dict[str, str] | None = None,
) -> list[dict[str, object]]:
    proc = wb(
        "export",
        "--case",
        "demo",
        "--profile",
        profile,
        "--recipient",
        "Org X",
        "--recipient-type",
        rtype,
        "--purpose",
        "trial of X",
        "--out",
        str(out),
        "--json",
        *extra,
        check=check,
        env=env,
    )
    return json_lines(proc.stdout)


def test_survivor_identifying_item_is_withheld_from_a_public_export(
    wb: RunWb, wb_env, tmp_path: Path
) -> None:
    stored = _setup(wb, tmp_path)
    secret, open_item = str(stored[0]["item_id"]), str(stored[1]["item_id"])
    _classify(wb, secret, "survivor_identifying")
    _classify(wb, open_item, "public")
    out = tmp_path / "pkg"
    lines = _export(wb, out, "public", "public")
    assert {"item_id": secret, "status": "withheld", "reason": "classification"}.items() <= lines[0].items()
    assert not (out / "data" / "items" / secret).exists()
    # a public package carries a metadata-stripped copy in place of the original
    assert (out / "data" / "items" / open_item / "shared").is_dir()
    assert not (out / "data" / "items" / open_item / "original").exists()
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert [w["id"] for w in manifest["withheld"]] == [secret]
    assert manifest["withheld"][0]["reason"] == "classification"
    assert "survivor_identifying" in manifest["withheld"][0]["detail"]
    assert secret not in (out / "data" / "items.csv").read_text(encoding="utf-8-sig")
    # metadata sidecars (GPS, serials) stay home in a public package
    assert not list((out / "data" / "items" / open_item).glob("files/sidecar-*"))
    wb("verify-package", str(out))


def test_consent_scope_blocks_media_and_withdrawal_blocks_everything(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    stored = _setup(wb, tmp_path, 1)
    item = str(stored[0]["item_id"])
    _classify(wb, item, "public")
    wb("consent", "add", item, "--subject", "P-001", "--scope", "court", "--scope", "un_mechanism")
    lines = _export(wb, tmp_path / "media", "public", "media", check=1)
    assert lines[0]["reason"] == "consent_scope"
    assert "court, un_mechanism" in str(lines[0]["detail"]) and "not media" in str(lines[0]["detail"])
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").iterdir())
    _export(wb, tmp_path / "court", "internal", "court")
    wb("consent", "withdraw", item, "--subject", "P-001")
    for rtype in ("court", "internal"):
        lines = _export(wb, tmp_path / f"after-{rtype}", "internal", rtype, check=1)
        assert lines[0]["reason"] == "consent_withdrawn"
    state = json_lines(wb("consent", "list", item, "--json").stdout)[-1]
    assert state["state"] == "consent withdrawn"
    actions = [e["action"] for e in json_lines(wb("log", item, "--json").stdout)]
    assert actions.count("export.blocked") == 3 and "consent.withdrawn" in actions


def test_transfer_register_lists_recipient_purpose_and_hashes(wb: RunWb, tmp_path: Path) -> None:
    stored = _setup(wb, tmp_path)
    _export(wb, tmp_path / "pkg", "partner", "partner")
    register = json_lines(wb("transfers", "--case", "demo", "--json").stdout)
    assert len(register) == 1
    t: dict[str, Any] = register[0]
    assert (t["recipient"], t["purpose"], t["recipient_type"], t["profile"]) == (
        "Org X",
        "trial of X",
        "partner",
        "partner",
    )
    assert {i["sha256"] for i in t["items"]} == {s["sha256"] for s in stored}
    assert t["manifest_sha256"] and t["authorised_by"] == "analyst-a"
    for s in stored:
        timeline = json_lines(wb("log", str(s["item_id"]), "--json").stdout)
        transfer: list[dict[str, Any]] = [e for e in timeline if e["action"] == "export.transfer"]
        assert transfer and transfer[0]["details"]["transfer_id"] == t["id"]
        assert "Org X" not in json.dumps(timeline)  # the recipient's name stays out of the log
    human = wb("transfers").stdout
    assert "Org X" in human and str(stored[0]["sha256"]) in human
    assert t["register_intact"] is True


def test_a_changed_register_row_is_reported(wb: RunWb, wb_env, tmp_path: Path) -> None:
    from archive.db import transfers

    _setup(wb, tmp_path, 1)
    _export(wb, tmp_path / "pkg", "internal", "court")
    home = Home.open(Path(wb_env["WB_HOME"]), Path(wb_env["WB_KEY"]), TOOL_VERSION)
    try:
        with home.transaction("someone") as tx:
            tx.conn.execute(update(transfers).values(recipient="Somebody else"))
    finally:
        home.close()
    proc = wb("transfers", check=1)
    assert "REGISTER ROW CHANGED" in proc.stdout and "no longer matches its custody events" in proc.stderr


def test_only_legal_members_may_export(wb: RunWb, account, tmp_path: Path) -> None:
    _setup(wb, tmp_path, 1)
    analyst = account("analyst-b", "analyst", "demo")
    proc = wb(
        "export", "--case", "demo", "--profile", "internal", "--recipient", "Org X",
        "--recipient-type", "court", "--purpose", "p", "--out", str(tmp_path / "no"),
        env=analyst, check=1,
    )  # fmt: skip
    assert "refused" in proc.stderr and not (tmp_path / "no").exists()
    legal = account("legal-b", "legal", "demo")
    _export(wb, tmp_path / "yes", "internal", "court", env=legal)
    assert json_lines(wb("transfers", "--json", env=legal).stdout)[0]["authorised_by"] == "legal-b"


def test_an_exporter_never_sees_nor_exports_a_survivor_item_they_are_not_assigned(
    wb: RunWb, wb_env: dict[str, str], account, tmp_path: Path
) -> None:
    lines = _setup(wb, tmp_path)
    hidden, shown = str(lines[0]["item_id"]), str(lines[1]["item_id"])
    _classify(wb, hidden, "survivor_identifying")
    env = account("legal-b", "legal", "demo")
    out = tmp_path / "bag"
    exported = _export(wb, out, "internal", "court", env=env)
    text = json.dumps(exported) + "".join(
        p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".json", ".csv", ".txt")
    )
    assert shown in text
    assert hidden not in text
    refused = wb(
        "export", "--case", "demo", "--items", hidden, "--profile", "internal", "--recipient", "Org X",
        "--recipient-type", "court", "--purpose", "trial", "--out", str(tmp_path / "bag2"),
        env=env, check=1,
    )  # fmt: skip
    assert hidden in refused.stderr and "that you may see" in refused.stderr
    assert not (tmp_path / "bag2").exists()
