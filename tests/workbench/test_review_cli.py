"""The review and access commands, run as a user would (`wb user add`, `wb judge`, `wb access-log` ...)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import RunWb, json_lines
from tests.workbench.app_fixtures import make_png

SOURCE = '{"method": "reverse search", "note": "first post"}'


def _add_user(env: dict[str, str], name: str, role: str, actor: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "user", "add", "--as", actor, name, "--role", role,
         "--password-stdin"],
        env=env, input="a long enough password\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_judge_tag_and_access_log_from_the_command_line(
    wb: RunWb, wb_env: dict[str, str], tmp_path: Path
) -> None:
    wb("init")
    wb("case", "create", "demo", "--purpose", "testing", "--reviews", "1")
    assert _add_user(wb_env, "boss", "admin", "boss").returncode == 0
    assert _add_user(wb_env, "ana", "analyst", "boss").returncode == 0
    refused = _add_user(wb_env, "eve", "admin", "ana")
    assert refused.returncode == 1 and "refused" in refused.stderr
    wb("member", "add", "--as", "boss", "--case", "demo", "ana")
    photo = tmp_path / "p.png"
    photo.write_bytes(make_png(3))
    item = str(json_lines(wb("ingest", "--json", "--case", "demo", str(photo)).stdout)[0]["item_id"])

    no_strands = wb("judge", "--as", "ana", item, "--status", "verified", "--confidence", "4",
                    "--rationale", "r", check=2)  # fmt: skip
    assert "source, technical or content" in no_strands.stderr
    judged = wb("judge", "--as", "ana", "--json", item, "--status", "verified", "--confidence", "high",
                "--rationale", "matches", "--source-analysis", SOURCE)  # fmt: skip
    assert json_lines(judged.stdout)[0]["status"] == "verified"

    tagged = wb("tag", "--as", "ana", "--json", item, "sexual violence")
    assert json_lines(tagged.stdout)[0]["classification"] == "restricted"
    assert "classify it" in tagged.stderr
    wb("classify", "--as", "ana", item, "survivor_identifying")

    log = json_lines(wb("access-log", "--as", "boss", "--json", item, check=1).stdout)
    assert log == []  # the admin is not assigned to this survivor-identifying item: refused
    wb("assign", "--as", "ana", item, "boss")
    actions = [e["action"] for e in json_lines(wb("access-log", "--as", "boss", "--json", item).stdout)]
    assert actions == ["access.denied"]
