"""File type from magic bytes. The declared type (extension, server header) is never trusted."""

from __future__ import annotations

__all__ = ["kind_of", "sniff"]

OCTET = "application/octet-stream"

# (offset, signature, mime); the first match wins, so more specific entries come first.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"WARC/", "application/warc"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x00\x00\x01\xba", "video/mpeg"),
    (0, b"8BPS", "image/vnd.adobe.photoshop"),
    (0, b"\xff\x0a", "image/jxl"),
    (0, b"\x00\x00\x00\x0cJXL ", "image/jxl"),
    (0, b"From: ", "multipart/related"),  # MHTML as Chromium writes it
    (0, b"MIME-Version:", "multipart/related"),
)

_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}

_FTYP = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"mif1": "image/heif",
    b"msf1": "image/heif-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3g2a": "video/3gpp2",
}


def sniff(head: bytes) -> str:
    """The MIME type that the first bytes of a file show; ``application/octet-stream`` if unknown."""
    for offset, signature, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4")
    if head[:2] == b"\xff\xfb" or head[:2] == b"\xff\xf3":
        return "audio/mpeg"
    return _text_type(head)


def _text_type(head: bytes) -> str:
    if not head or b"\x00" in head[:4096]:
        return OCTET
    try:
        text = head[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head[:4096]) - 4:
            return OCTET
        text = head[: exc.start].decode("utf-8")
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html", "<head", "<body")):
        return "text/html"
    if start.startswith(("<?xml", "<svg")):
        return "image/svg+xml" if "<svg" in start else "application/xml"
    if start.startswith(("{", "[")):
        return "application/json"
    return "text/plain"


def kind_of(mime: str) -> str:
    """The coarse kind of an item: image, video, audio, document, archive, web or other."""
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime in ("application/zip", "application/gzip"):
        return "archive"
    if mime in ("application/warc", "text/html", "multipart/related"):
        return "web"
    if mime in ("application/pdf", "text/plain", "application/json", "application/xml"):
        return "document"
    return "other"
