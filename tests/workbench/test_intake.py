"""One way into the archive (issue 13): an app upload, `wb ingest` and a web capture follow the same rules.

Old code stored a zip uploaded in the app as one opaque item while `wb ingest` expanded it into its
members, and a capture of content erased from the case skipped it without the ``ingest.refused``
event that ingest writes (and recorded its bytes again as an artifact).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from archive.cases import create_case
from archive.db import custody_events, items, sightings
from archive.home import Home
from archive.model import Case
from archive.verify import verify
from collectors.outcome import StagedCapture
from collectors.recorder import StagedFile
from tests.workbench.app_fixtures import World, make_png, make_world
from workbench.services import auth, deletion, intake, jobs
from workbench.services.capture.store import store_staged

POST_URL = "http://127.0.0.1:9/post/1"
PHOTO_URL = "http://127.0.0.1:9/p.png"


def photos_zip() -> bytes:
    """Two pictures (one twice, under another name), a text note and a member that climbs out."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a.png", make_png(11))
        zf.writestr("sub/b.png", make_png(12))
        zf.writestr("sub/a-again.png", make_png(11))
        zf.writestr("notes.txt", "met at the checkpoint")
        zf.writestr("../escape.png", make_png(13))
    return out.getvalue()


def case_contents(home: Home, case: Case) -> tuple[list[tuple[str, str, str]], Counter[str], set[str | None]]:
    """(title, sha256, kind) of every item, the custody actions of the case, the containers named."""
    with home.reading() as conn:
        rows = conn.execute(
            select(items.c.title, items.c.sha256, items.c.kind).where(items.c.case_id == case.id)
        ).all()
        actions = Counter(
            str(a)
            for (a,) in conn.execute(
                select(custody_events.c.action).where(custody_events.c.case_id == case.id)
            )
        )
        containers = {
            (s.details or {}).get("container_sha256")
            for s in conn.execute(
                select(sightings.c.details)
                .join(items, items.c.id == sightings.c.item_id)
                .where(items.c.case_id == case.id)
            )
        }
    return sorted((str(t), str(s), str(k)) for t, s, k in rows), actions, containers


def test_a_zip_uploaded_in_the_app_becomes_the_same_items_as_through_wb_ingest(
    home: Home, tmp_path: Path
) -> None:
    w: World = make_world(home, n_items=0)
    data = photos_zip()
    params = jobs.save_uploads(home, [("photos.zip", data)])
    jobs.submit(home, w.analyst, "upload", w.case.id, params)
    job = jobs.run_job(home)
    assert job is not None and job.status == "done" and job.progress == 1.0, job

    with home.transaction("admin") as tx:
        twin = create_case(tx, "twin", "the same zip through wb ingest")
        auth.add_member(tx, w.admin, twin.id, "analyst")
    path = tmp_path / "photos.zip"
    path.write_bytes(data)
    ingested = list(intake.ingest_paths(home, twin, [str(path)], w.analyst))

    uploaded = [(r["name"], r["status"], r["reason"]) for r in job.result["results"]]
    assert uploaded == [(r.path.removeprefix(f"{tmp_path}/"), r.status, r.reason) for r in ingested]
    assert [s for _, s, _ in uploaded] == ["stored", "stored", "stored", "duplicate", "stored", "refused"]
    up_items, up_actions, up_containers = case_contents(home, w.case)
    in_items, in_actions, in_containers = case_contents(home, twin)
    assert up_items == [(t.removeprefix(f"{tmp_path}/"), s, k) for t, s, k in in_items]
    assert len(up_items) == 4  # the zip itself and three distinct members
    assert up_containers == in_containers and len(up_containers - {None}) == 1
    intake_actions = {"item.ingested", "sighting.added", "artifact.derived", "ingest.refused"}
    assert {a: n for a, n in up_actions.items() if a in intake_actions} == {
        a: n for a, n in in_actions.items() if a in intake_actions
    }
    assert up_actions["item.ingested"] == 4 and up_actions["sighting.added"] == 1
    # The follow-up analysis takes the pictures the members brought, as it does for single files.
    follow_up = jobs.get_job(home, job.result["analysis_job"])
    assert follow_up is not None and len(follow_up.params["item_ids"]) == 4


def staged_post(folder: Path, photo: bytes, when: str) -> StagedCapture:
    """A page with one photo, staged as the browser leaves it (the rule under test is in the storing);
    each capture's page bytes differ (``when``), as a real capture's archive of the page does."""
    folder.mkdir(parents=True)
    files = []
    for role, data, mime, url in (
        ("html", f"<html><!-- {when} --><img src='/p.png'></html>".encode(), "text/html", None),
        ("media", photo, "image/png", PHOTO_URL),
    ):
        (folder / role).write_bytes(data)
        files.append(StagedFile(role, folder / role, hashlib.sha256(data).hexdigest(), len(data), mime, url))
    return StagedCapture(
        POST_URL, "captured", None, folder, {"final_url": POST_URL, "title": "a post"}, files
    )


def refusals(home: Home) -> list[tuple[str, dict[str, Any]]]:
    query = select(custody_events.c.item_id, custody_events.c.details).where(
        custody_events.c.action == "ingest.refused"
    )
    with home.reading() as conn:
        rows = conn.execute(query.order_by(custody_events.c.seq))
        return [(str(i), json.loads(d) if isinstance(d, str) else dict(d or {})) for i, d in rows]


def test_a_capture_of_content_erased_from_the_case_is_refused_with_the_event(
    home: Home, tmp_path: Path
) -> None:
    w = make_world(home, n_items=0)
    photo = make_png(21, (120, 90))
    first = store_staged(home, w.case, staged_post(tmp_path / "one", photo, "monday"), "analyst", "cli", None)
    [media] = first.stored_media
    deletion.request_deletion(home, w.analyst, media.item_id, "consent withdrawn", "cli")
    deletion.approve_deletion(home, w.legal, media.item_id, "cli")
    assert refusals(home) == [] and not home.blobs.exists(media.sha256)

    again = store_staged(
        home, w.case, staged_post(tmp_path / "two", photo, "tuesday"), "analyst", "cli", None
    )
    assert again.status == "captured" and again.stored_media == []
    assert media.sha256 not in {a["sha256"] for a in again.artifacts}  # not recorded again
    assert refusals(home) == [(media.item_id, {"reason": "deleted", "capture_id": again.capture_id})]
    assert not home.blobs.exists(media.sha256)  # its bytes are not kept again either
    # The same bytes through `wb ingest` meet the same rule and the same event.
    path = tmp_path / "photo.png"
    path.write_bytes(photo)
    [ingested] = intake.ingest_paths(home, w.case, [str(path)], w.analyst)
    assert ingested.status == "refused" and "deleted from the case" in (ingested.reason or "")
    assert [r[0] for r in refusals(home)] == [media.item_id, media.item_id]
    assert verify(home).intact
