"""X / Twitter posts: ``x.com`` and ``twitter.com`` (and mobile, ``/i/web/status``) status URLs."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["Twitter"]

HOSTS = {"x.com", "twitter.com", "fxtwitter.com", "vxtwitter.com", "fixupx.com", "nitter.net"}
_STATUS = re.compile(r"^/(?:(?P<handle>[A-Za-z0-9_]{1,15})|i/web|i)/status(?:es)?/(?P<id>\d{1,25})")
_TITLE = re.compile(r'^(?P<name>.*?) on (?:X|Twitter): "(?P<text>.*)"\s*(?:/ X|/ Twitter)?$', re.S)


class Twitter:
    name = "x"

    def matches(self, url: str) -> bool:
        return host_of(url) in HOSTS

    def canonical(self, url: str) -> str | None:

        m = _STATUS.match(urlsplit(url).path)
        if not m:
            return None
        handle = m.group("handle") or "i/web"
        return f"https://x.com/{handle.lower() if handle != 'i/web' else handle}/status/{m.group('id')}"

    def extract(self, url: str, page: Page) -> dict[str, Any]:

        article = '//article[@data-testid="tweet"][1]'
        m = _STATUS.match(urlsplit(url).path)
        if m is None:
            # A saved copy served from elsewhere: the post's own link is the one around its time.
            link = page.first_text(f"{article}//a[time]/@href") or ""
            m = _STATUS.match(urlsplit(link).path)
        text = page.first_text(f'{article}//div[@data-testid="tweetText"]')
        names = page.xpath(f'{article}//div[@data-testid="User-Name"]//span//text()')
        handle = next((n.strip()[1:] for n in names if n.strip().startswith("@")), None)
        display = next((n.strip() for n in names if n.strip() and not n.strip().startswith("@")), None)
        og_title = page.meta("og:title") or ""
        title = _TITLE.match(og_title)
        when = page.first_text(f"{article}//time/@datetime")
        state, reason = availability(
            visible_text(page),
            login=("Log in to X", "Sign in to X", "Log in to Twitter", "Don’t miss what’s happening"),
            unavailable=(
                "This account’s posts are protected",
                "Something went wrong. Try reloading",
                "This Post is unavailable",
                "This Tweet is unavailable",
                "Account suspended",
            ),
            deleted=(
                "this page doesn’t exist",
                "this page doesn't exist",
                "This Post was deleted",
                "This Tweet was deleted",
                "account that no longer exists",
            ),
        )
        if state == "login_wall" and text:
            state, reason = "available", None  # the post is shown beside a log-in prompt
        return {
            "post_id": m.group("id") if m else None,
            "handle": handle or (m.group("handle") if m and m.group("handle") else None),
            "display_name": display or (title.group("name") if title else None),
            "posted_at": machine_time(when),
            "posted_at_shown": page.first_text(f"{article}//time"),
            "caption": text or (title.group("text") if title else None),
            "media_urls": [
                u
                for u in page.xpath(
                    f'{article}//div[@data-testid="tweetPhoto"]//img/@src | {article}//video/@src'
                )
            ],
            "availability": state,
            "availability_reason": reason,
        }
