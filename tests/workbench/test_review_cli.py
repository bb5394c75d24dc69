"""The review and access commands, run as a user would (`wb user add`, `wb judge`, `wb access-log` ...)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PASSWORD, Account, RunWb, json_lines
from tests.workbench.app_fixtures import make_png

SOURCE = '{"method": "reverse search", "note": "first post"}'


def test_judge_tag_and_access_log_from_the_command_line(wb: RunWb, account: Account, tmp_path: Path) -> None:
    wb("init")
    wb("case", "create", "demo", "--purpose", "testing", "--reviews", "1")
    boss = account("boss", "admin")
    ana = account("ana", "analyst", "demo")
    refused = wb(
        "user", "add", "eve", "--role", "admin", "--password-stdin", input=PASSWORD, env=ana, check=1
    )
    assert "refused" in refused.stderr
    photo = tmp_path / "p.png"
    photo.write_bytes(make_png(3))
    item = str(json_lines(wb("ingest", "--json", "--case", "demo", str(photo)).stdout)[0]["item_id"])

    no_strands = wb("judge", item, "--status", "verified", "--confidence", "4",
                    "--rationale", "r", check=2, env=ana)  # fmt: skip
    assert "source, technical or content" in no_strands.stderr
    judged = wb("judge", "--json", item, "--status", "verified", "--confidence", "high",
                "--rationale", "matches", "--source-analysis", SOURCE, env=ana)  # fmt: skip
    assert json_lines(judged.stdout)[0]["status"] == "verified"

    tagged = wb("tag", "--json", item, "sexual violence", env=ana)
    assert json_lines(tagged.stdout)[0]["classification"] == "restricted"
    assert "classify it" in tagged.stderr
    wb("classify", item, "survivor_identifying", env=ana)

    log = json_lines(wb("access-log", "--json", item, check=1, env=boss).stdout)
    assert log == []  # the admin is not assigned to this survivor-identifying item: refused
    wb("assign", item, "boss", env=ana)
    actions = [e["action"] for e in json_lines(wb("access-log", "--json", item, env=boss).stdout)]
    assert actions == ["access.denied"]
