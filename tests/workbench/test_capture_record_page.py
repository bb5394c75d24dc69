"""The Record tab's capture record as readable sections (pages.capture_record), the raw JSON on demand."""

from __future__ import annotations

from workbench.app.pages.capture_record import sections

RECORD = {
    "requested_url": "http://127.0.0.1:9/p",
    "final_url": "http://127.0.0.1:9/q",
    "http_status": 200,
    "server_ip": "127.0.0.1",
    "tls_certificate": None,
    "browser": "chromium/156",
    "playwright": "1.65.2",
    "transformations": ["WARC rebuilt from browser-reported exchanges", "HTML read as windows-1252"],
    "post": {"caption": "x"},
    "response_headers": [["Server", "test"]],
    "steps": [{"step": "guard", "status": "ok"}],
    "something_new": {"a": 1},
}


def test_every_field_lands_in_one_section_and_transformations_one_per_row() -> None:
    found = sections(RECORD)
    assert list(found) == ["Request", "Response", "Network", "Versions", "Transformations", "Other"]
    assert {r["field"] for r in found["Request"]} == {"requested url", "final url"}
    assert found["Response"] == [{"field": "http status", "value": "200"}]
    assert {r["field"]: r["value"] for r in found["Network"]} == {
        "server ip": "127.0.0.1",
        "tls certificate": "-",
    }
    assert {r["field"] for r in found["Versions"]} == {"browser", "playwright"}
    assert [r["value"] for r in found["Transformations"]] == RECORD["transformations"]
    assert found["Other"] == [{"field": "something new", "value": '{"a": 1}'}]  # nothing is dropped
