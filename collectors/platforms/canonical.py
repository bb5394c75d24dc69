"""URL canonicalisation, so that two spellings of one post become one sighting.

Generic rules apply to every URL (lower-case scheme and host, no default port, no fragment, no
tracking parameters, no ``www.``/``m.``/``mobile.`` prefix on platform hosts); platform adapters
add their own (``x.com`` for twitter.com, ``youtu.be/ID`` to ``youtube.com/watch?v=ID`` ...).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["TRACKING", "basic_canonical", "host_of"]

TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "igshid",
        "igsh",
        "si",
        "ref",
        "ref_src",
        "ref_url",
        "s",
        "t",
        "feature",
        "mibextid",
        "share_id",
        "_rdr",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "__cft__[0]",
        "__tn__",
        "rdid",
        "sfnsn",
        "context",
        "src",
    }
)
_PREFIXES = ("www.", "m.", "mobile.", "mbasic.", "old.", "new.", "vm.", "web.")


def host_of(url: str) -> str:
    """The lower-case host without platform prefixes (``www.``, ``m.`` ...)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for prefix in _PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host


def basic_canonical(url: str, keep: frozenset[str] | None = None) -> str:
    """Generic canonical form; ``keep`` names the only query parameters that survive when given."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = f"{host}:{port}" if port else host
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if (k in keep if keep is not None else k.lower() not in TRACKING and not k.lower().startswith("utm_"))
    ]
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit(
        ("https" if parts.scheme.lower() == "https" else "http", netloc, path, urlencode(query), "")
    )
