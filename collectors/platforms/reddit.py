"""Reddit posts: ``/r/SUB/comments/ID/slug`` on www/old/new/np hosts, and ``redd.it/ID``.

New Reddit renders ``<shreddit-post>`` with attributes (author, created-timestamp, post-title, id);
old Reddit renders ``div.thing[data-fullname=t3_ID]`` with data-author and data-timestamp (ms).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["Reddit"]

_PATH = re.compile(r"^/r/(?P<sub>[A-Za-z0-9_]{2,21})/comments/(?P<id>[a-z0-9]{4,12})")


class Reddit:
    name = "reddit"

    def matches(self, url: str) -> bool:
        return host_of(url) in ("reddit.com", "redd.it", "np.reddit.com")

    def canonical(self, url: str) -> str | None:
        parts = urlsplit(url)
        if host_of(url) == "redd.it":
            rid = parts.path.strip("/")
            return f"https://www.reddit.com/comments/{rid}/" if re.fullmatch(r"[a-z0-9]{4,12}", rid) else None
        m = _PATH.match(parts.path)
        return f"https://www.reddit.com/r/{m.group('sub').lower()}/comments/{m.group('id')}/" if m else None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        m = _PATH.match(urlsplit(url).path)
        new = "//shreddit-post[1]"
        old = '//div[contains(@class,"thing") and starts-with(@data-fullname,"t3_")][1]'
        author = page.first_text(f"{new}/@author") or page.first_text(f"{old}/@data-author")
        when = page.first_text(f"{new}/@created-timestamp") or page.first_text(f"{old}/@data-timestamp")
        body = page.first_text(f'{new}//div[@slot="text-body"]') or page.first_text(
            f'{old}//div[contains(@class,"usertext-body")]'
        )
        title = page.first_text(f"{new}/@post-title") or page.first_text(
            f'{old}//a[contains(@class,"title")]'
        )
        state, reason = availability(
            visible_text(page),
            login=("You must be logged in", "Log in to Reddit", "This community is private"),
            unavailable=(
                "Sorry, this post was removed by Reddit",
                "this post was removed",
                "Removed by moderator",
            ),
            deleted=(
                "Sorry, this post was deleted by the person who originally posted it",
                "[deleted by user]",
            ),
        )
        if author in ("[deleted]",) and state == "available":
            state, reason = "deleted", "author shown as [deleted]"
        post_id = (
            page.first_text(f"{new}/@id") or page.first_text(f"{old}/@data-fullname") or ""
        ).removeprefix("t3_")
        return {
            "post_id": post_id or (m.group("id") if m else None),
            "handle": author,
            "display_name": None,
            "profile_url": f"https://www.reddit.com/user/{author}/"
            if author and author != "[deleted]"
            else None,
            "community": m.group("sub") if m else page.first_text(f"{new}/@subreddit-prefixed-name"),
            "posted_at": machine_time(when),
            "posted_at_shown": page.first_text(f"{new}//faceplate-timeago//time")
            or page.first_text(f"{old}//time"),
            "title": title,
            "caption": body if body else title,
            "media_urls": page.xpath(
                f'{new}//img[contains(@src,"i.redd.it")]/@src | {old}//a[contains(@class,"thumbnail")]/@href'
            ),
            "availability": state,
            "availability_reason": reason,
        }
