"""The `wb` contract's basics: init, cases, exit codes."""

from __future__ import annotations

from datetime import date

from tests.conftest import RunWb, json_lines


def test_commands_on_a_missing_home_fail_with_exit_2(wb: RunWb) -> None:
    proc = wb("case", "list", check=2)
    assert "wb init" in proc.stderr


def test_init_is_idempotent_and_keeps_the_key(wb: RunWb, wb_env: dict[str, str]) -> None:
    first = json_lines(wb("init", "--json").stdout)[0]
    second = json_lines(wb("init", "--json").stdout)[0]
    assert first["key_id"] == second["key_id"]
    assert oct(__import__("os").stat(wb_env["WB_KEY"]).st_mode & 0o777) == "0o600"


def test_a_case_without_a_purpose_is_refused(wb: RunWb) -> None:
    wb("init")
    proc = wb("case", "create", "alpha", check=2)
    assert "purpose" in proc.stderr
    assert wb("case", "list").stdout == ""


def test_case_create_and_list(wb: RunWb) -> None:
    wb("init")
    wb("case", "create", "alpha", "--purpose", "Document shelling of X", "--reviews", "2")
    listed = json_lines(wb("case", "list", "--json").stdout)
    assert len(listed) == 1
    case = listed[0]
    assert {k: case[k] for k in ("case", "id", "purpose", "review_policy")} == {
        "case": "alpha",
        "id": 1,
        "purpose": "Document shelling of X",
        "review_policy": 2,
    }
    # Every case gets a review date (RET-01), from its category's period when none is given.
    assert case["review_on"] > date.today().isoformat()
    assert "exists already" in wb("case", "create", "alpha", "--purpose", "again", check=2).stderr


def test_unknown_case_is_a_usage_error(wb: RunWb, tmp_path) -> None:
    wb("init")
    f = tmp_path / "a.txt"
    f.write_text("x")
    assert "no case named" in wb("ingest", "--case", "nope", str(f), check=2).stderr
