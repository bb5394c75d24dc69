"""VK wall posts: ``vk.com/wall-OWNER_ID``, ``?w=wall-OWNER_ID`` overlays, ``m.vk.com``, ``vk.ru``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.platforms.base import Page, availability, machine_time, visible_text
from collectors.platforms.canonical import host_of

__all__ = ["VK"]

_PHOTO = 'contains(@class,"PhotoPrimaryAttachment__imageElement") or contains(@class,"page_post_thumb")'
_WALL = re.compile(r"(?P<kind>wall|photo|video|clip)(?P<id>-?\d{1,20}_\d{1,20})")


def _post(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    for candidate in (
        parts.path.lstrip("/"),
        *parse_qs(parts.query).get("w", []),
        *parse_qs(parts.query).get("z", []),
    ):
        m = _WALL.fullmatch(candidate.split("/")[0])
        if m:
            return m.group("kind"), m.group("id")
    return None


class VK:
    name = "vk"

    def matches(self, url: str) -> bool:
        return host_of(url) in ("vk.com", "vk.ru", "vkontakte.ru")

    def canonical(self, url: str) -> str | None:
        found = _post(url)
        return f"https://vk.com/{found[0]}{found[1]}" if found else None

    def extract(self, url: str, page: Page) -> dict[str, Any]:
        found = _post(url)
        post = '(//div[contains(concat(" ",@class," ")," post ") or contains(@class,"wall_item")])[1]'
        author = f'{post}//a[contains(@class,"author") or contains(@class,"PostHeaderTitle__authorLink")]'
        date = f'{post}//*[contains(@class,"rel_date") or contains(@class,"PostHeaderSubtitle__item")]'
        state, reason = availability(
            visible_text(page),
            login=("Log in to VK", "Войдите, чтобы", "You need to log in", "Sign in to VK"),
            unavailable=("This page is private", "Access denied", "Страница скрыта", "Ошибка доступа"),
            deleted=("Post deleted", "This post has been deleted", "Запись удалена", "Запис видалено"),
        )
        return {
            "post_id": found[1] if found else page.first_text(f"{post}/@data-post-id"),
            "handle": (page.first_text(f"{author}/@href") or "").strip("/") or None,
            "display_name": page.first_text(author),
            "posted_at": machine_time(
                page.first_text(f"{date}/@time") or page.first_text(f"{date}/@data-time")
            ),
            "posted_at_shown": page.first_text(date),
            "caption": page.first_text(f'{post}//div[contains(@class,"wall_post_text")]'),
            "media_urls": page.xpath(f"{post}//img[{_PHOTO}]/@src"),
            "availability": state,
            "availability_reason": reason,
        }
