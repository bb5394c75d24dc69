"""Item bytes on a page, through Streamlit's ``/media`` route, for the account they were made for.

A service that makes bytes for a page records a grant for them (``viewing.grant_media``). These
helpers put the bytes on the page and note which ``/media`` file holds which granted bytes (by their
SHA-256), so that the route (``asgi.SessionGate``) asks ``viewing.media_allowed`` about the bytes
themselves, for the account of the request's login cookie. Bytes put on a page any other way have
no such note, and the route refuses them: a page that forgets this fails closed.

Streamlit may re-encode a picture on the way (a resize), so the note names the bytes the service
granted, taken as Streamlit stores the file (``MediaFileManager.add``).
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from streamlit import runtime

from workbench.services.viewing import media_digest

__all__ = ["digests_of", "download_button", "image", "images", "install", "video"]

_MAX = 20_000
_bound: OrderedDict[str, set[str]] = OrderedDict()  # /media file id -> granted bytes' SHA-256s
_lock = threading.Lock()
_pending: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("wb_media_pending", default=None)


def digests_of(file_id: str) -> set[str]:
    """The SHA-256s of the granted bytes the page put under this ``/media`` file id."""
    with _lock:
        return set(_bound.get(file_id, ()))


def _bind(file_id: str, digest: str) -> None:
    with _lock:
        _bound.setdefault(file_id, set()).add(digest)
        _bound.move_to_end(file_id)
        while len(_bound) > _MAX:
            _bound.popitem(last=False)


def install() -> None:
    """Note, for every file Streamlit's media manager adds, the granted bytes it stands for (once)."""
    if not runtime.exists():
        return
    manager = runtime.get_instance().media_file_mgr
    if getattr(manager, "_wb_noted", False):
        return
    original: Callable[..., str] = manager.add

    def add(path_or_data: Any, mimetype: str, coordinates: str, *args: Any, **kwargs: Any) -> str:
        url = original(path_or_data, mimetype, coordinates, *args, **kwargs)
        pending = _pending.get()
        if pending:
            _bind(url.rsplit("/", 1)[-1].split(".", 1)[0], pending.pop(0))
        return url

    manager.add = add  # type: ignore[method-assign]
    manager._wb_noted = True  # type: ignore[attr-defined]


@contextmanager
def _granted(*datas: bytes) -> Iterator[None]:
    install()
    token = _pending.set([media_digest(d) for d in datas])
    try:
        yield
    finally:
        _pending.reset(token)


def image(data: bytes, **kwargs: Any) -> None:
    """``st.image`` of bytes a service granted this account."""
    with _granted(data):
        st.image(data, **kwargs)


def images(datas: list[bytes], **kwargs: Any) -> None:
    """``st.image`` of several granted pictures (in order)."""
    with _granted(*datas):
        st.image(datas, **kwargs)


def video(data: bytes, **kwargs: Any) -> None:
    """``st.video`` of bytes a service granted this account."""
    with _granted(data):
        st.video(data, **kwargs)


def download_button(label: str, data: bytes, **kwargs: Any) -> None:
    """``st.download_button`` of bytes a service granted this account."""
    with _granted(data):
        st.download_button(label, data, **kwargs)
