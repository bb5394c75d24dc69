"""Factories for the app's tests: accounts, a case with members, and real items stored by the Ingestor."""

from __future__ import annotations

import io
from dataclasses import dataclass

from argon2 import PasswordHasher
from PIL import Image

from archive.cases import create_case
from archive.home import Home
from archive.ingest import Ingestor
from archive.model import Case, IncomingFile
from workbench.services import auth
from workbench.services.auth import Account

PASSWORD = "correct horse battery"

__all__ = ["PASSWORD", "World", "make_png", "make_world", "store"]


def make_png(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small colourful PNG, different for each seed."""
    img = Image.new("RGB", size)
    w, h = size
    img.putdata(
        [
            ((x * 7 + seed * 31) % 256, (y * 5 + seed * 17) % 256, (x * y + seed) % 256)
            for y in range(h)
            for x in range(w)
        ]
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def store(home: Home, case: Case, data: bytes, name: str, actor: str = "admin") -> str:
    """Ingest bytes as a file and return the new item's id."""
    offer = IncomingFile(name=name, open=lambda: io.BytesIO(data), size=len(data))
    result = Ingestor(home, None).ingest(case, offer, actor)
    assert result.status == "stored" and result.item_id, result
    return result.item_id


@dataclass
class World:
    home: Home
    case: Case
    admin: Account
    analyst: Account
    reviewer: Account
    reviewer2: Account
    legal: Account
    outsider: Account  # an analyst who is not a member of the case
    items: list[str]

    def account(self, name: str) -> Account:
        with self.home.reading() as conn:
            found = auth.account_by_name(conn, name)
        assert found is not None
        return found


def make_world(home: Home, reviews: int = 2, n_items: int = 3) -> World:
    """An admin, analyst, two reviewers, legal (members) and an outsider; ``n_items`` PNG items.

    Accounts are hashed with cheap argon2 parameters (still argon2) to keep the tests fast.
    """
    saved, auth.HASHER = auth.HASHER, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        return _make_world(home, reviews, n_items)
    finally:
        auth.HASHER = saved


def _make_world(home: Home, reviews: int, n_items: int) -> World:
    with home.transaction("admin") as tx:
        admin = auth.add_user(tx, None, "admin", "admin", PASSWORD)
        made = {r: auth.add_user(tx, admin, r, role, PASSWORD) for r, role in (
            ("analyst", "analyst"), ("reviewer", "reviewer"), ("reviewer2", "reviewer"),
            ("legal", "legal"), ("outsider", "analyst"),
        )}  # fmt: skip
        case = create_case(tx, "demo", "test purpose", reviews)
        for name in ("analyst", "reviewer", "reviewer2", "legal"):
            auth.add_member(tx, admin, case.id, name)
    ids = [store(home, case, make_png(i), f"photo-{i}.png") for i in range(n_items)]
    return World(home, case, admin, made["analyst"], made["reviewer"], made["reviewer2"], made["legal"],
                 made["outsider"], ids)  # fmt: skip
