"""Platform adapters on saved pages. Every page in tests/collectors/pages/ is RECONSTRUCTED from the
platform's documented or observed markup (each file says so in its first line); none is a copy of a
live page. Captions are compared byte for byte with the text written into the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.platforms import canonical_url, extract_post

PAGES = Path(__file__).with_name("pages")


def post(name: str, url: str) -> dict[str, Any]:
    html = (PAGES / name).read_text("utf-8")
    assert "econstructed" in html.splitlines()[0] or "Made for tests" in html.splitlines()[0]
    return extract_post(url, html)


def test_x_status() -> None:
    p = post("x_status.html", "https://twitter.com/Olena_K/status/1764000000000000001?s=20&t=abc")
    assert p["platform"] == "x" and p["post_id"] == "1764000000000000001"
    assert p["handle"] == "olena_k" and p["display_name"] == "Olena K"
    assert p["caption"] == "Shelling near the school this morning.\nДва вибухи о 7:40."
    assert p["posted_at"] == "2024-03-02T05:41:12Z" and p["posted_at_shown"] == "7:41 AM · Mar 2, 2024"
    assert any("pbs.twimg.com/media/GabcdEFG" in u for u in p["media_urls"])
    assert p["availability"] == "available"


@pytest.mark.parametrize(("name", "state"), [("x_deleted.html", "deleted"), ("x_login.html", "login_wall")])
def test_x_walls_and_deletions(name: str, state: str) -> None:
    assert post(name, "https://x.com/someone/status/1")["availability"] == state


def test_telegram_preview_reads_the_named_post() -> None:
    p = post("telegram_s.html", "https://t.me/s/channelnews/4521")
    assert p["platform"] == "telegram" and p["post_id"] == "channelnews/4521"
    assert p["display_name"] == "Новини Каналу" and p["handle"] == "channelnews"
    assert p["caption"] == "Обстріл Харкова 2 березня.\nФото з місця події."
    assert p["posted_at"] == "2024-03-02T08:15:00Z" and p["posted_at_shown"] == "08:15"
    assert p["media_urls"] == ["https://cdn4.telesco.pe/file/photo4521.jpg"]


def test_telegram_missing_post() -> None:
    assert post("telegram_missing.html", "https://t.me/channelnews/9999")["availability"] == "unavailable"


def test_youtube_watch() -> None:
    p = post("youtube_watch.html", "https://youtu.be/dQw4w9WgXcQ?si=tracking")
    assert p["platform"] == "youtube" and p["post_id"] == "dQw4w9WgXcQ"
    assert p["handle"] == "FieldReports" and p["display_name"] == "Field Reports"
    assert p["caption"] == "Filmed 27 Feb.\nLine two: قافلة"
    assert p["posted_at"] == "2024-02-28T12:12:00Z"


def test_youtube_unavailable() -> None:
    assert (
        post("youtube_unavailable.html", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")["availability"]
        == "unavailable"
    )


def test_tiktok_video() -> None:
    p = post("tiktok_video.html", "https://www.tiktok.com/@port.watch/video/7340000000000000001?lang=en")
    assert p["post_id"] == "7340000000000000001" and p["handle"] == "port.watch"
    assert p["display_name"] == "Port Watch" and p["caption"] == "Smoke over the port #mariupol"
    assert p["posted_at"] == "2024-03-02T08:00:00Z"
    assert "https://v16-webapp.tiktok.com/video/abc.mp4" in p["media_urls"]


def test_instagram_post_from_opengraph() -> None:
    p = post("instagram_post.html", "https://www.instagram.com/mariam.h/p/C4abcDEF123/?igsh=xyz")
    assert p["platform"] == "instagram" and p["post_id"] == "C4abcDEF123"
    assert p["handle"] == "mariam.h" and p["display_name"] == "Mariam H."
    assert p["caption"] == "After the strike. بعد الضربة" and p["posted_at_shown"] == "March 2, 2024"


def test_instagram_login_wall() -> None:
    assert (
        post("instagram_login.html", "https://www.instagram.com/p/C4abcDEF123/")["availability"]
        == "login_wall"
    )


def test_facebook_post_and_unavailable() -> None:
    p = post("facebook_post.html", "https://m.facebook.com/LocalCouncil/posts/pfbid02abc?mibextid=x")
    assert p["platform"] == "facebook" and p["post_id"] == "pfbid02abc"
    assert p["caption"] == "Water distribution at 10:00 near the market." and p["availability"] == "available"
    gone = post("facebook_unavailable.html", "https://www.facebook.com/LocalCouncil/posts/pfbid02abc")
    assert gone["availability"] == "unavailable"


def test_reddit_post_and_deleted() -> None:
    p = post("reddit_post.html", "https://old.reddit.com/r/Example/comments/1b3xyz/footage_from_the_bridge/")
    assert p["post_id"] == "1b3xyz" and p["handle"] == "field_notes"
    assert p["caption"] == "Taken at 09:50 local time." and p["posted_at"] == "2024-03-02T10:05:33Z"
    assert p["posted_at_shown"] == "2 hr. ago"
    gone = post("reddit_deleted.html", "https://www.reddit.com/r/example/comments/1b3del/x/")
    assert gone["availability"] == "deleted"


def test_bluesky_post() -> None:
    p = post("bluesky_post.html", "https://bsky.app/profile/Ana.bsky.social/post/3kmxyzabc22")
    assert p["platform"] == "bluesky" and p["post_id"] == "at://did:plc:abc123/app.bsky.feed.post/3kmxyzabc22"
    assert p["handle"] == "ana.bsky.social" and p["display_name"] == "Ana R"
    assert p["caption"] == "Power is back in our district.\nSecond line."
    assert p["posted_at"] == "2024-03-02T11:00:00Z"


def test_mastodon_status_on_any_instance() -> None:
    p = post("mastodon_status.html", "https://social.example/@jon/111999888777666555")
    assert p["platform"] == "mastodon" and p["post_id"] == "111999888777666555"
    assert p["handle"] == "jon@social.example" and p["display_name"] == "Jon"
    assert p["caption"] == "Road closed at the checkpoint." and p["posted_at"] == "2024-03-02T12:30:00Z"


def test_vk_wall_post_and_deleted() -> None:
    p = post("vk_wall.html", "https://vk.com/club123?w=wall-123_456")
    assert p["platform"] == "vk" and p["post_id"] == "-123_456"
    assert p["display_name"] == "Городские новости" and p["handle"] == "club123"
    assert p["caption"] == "Колонна техники на въезде в город.\nВидео очевидца."
    assert p["posted_at"] == "2024-03-02T09:00:00Z" and p["posted_at_shown"] == "2 мар в 12:00"
    assert post("vk_deleted.html", "https://vk.com/wall-123_457")["availability"] == "deleted"


def test_generic_extractor_on_an_ordinary_page() -> None:
    p = post("generic_article.html", "https://news.example/a/123?utm_source=x")
    assert p["platform"] == "web" and p["canonical_url"] == "https://news.example/a/123"
    assert p["author"] == "Reporter Name" and p["posted_at"] == "2024-03-02T09:00:00+02:00"
    assert p["language"] == "ar" and p["title"] == "تقرير ميداني"
    assert p["oembed"] and p["twitter_card"]["twitter:card"] == "summary_large_image"


def test_changed_markup_falls_back_to_generic_without_crashing() -> None:
    p = extract_post(
        "https://x.com/a/status/5", "<html><head><meta property='og:description' content='c'></head></html>"
    )
    assert p["platform"] == "x" and p["post_id"] == "5" and p["caption"] == "c"


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ("https://twitter.com/Olena_K/status/1764?s=20", "https://x.com/olena_k/status/1764"),
        ("https://mobile.twitter.com/olena_k/status/1764/photo/1", "https://x.com/olena_k/status/1764"),
        ("https://t.me/s/ChannelNews/4521", "https://t.me/channelnews/4521?single"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", "https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share"),
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "https://youtube.com/watch?v=dQw4w9WgXcQ"),
        (
            "https://www.tiktok.com/@Port.Watch/video/7340000000000000001?lang=en",
            "https://tiktok.com/@port.watch/video/7340000000000000001",
        ),
        ("https://www.instagram.com/mariam.h/p/C4abcDEF123/?igsh=x", "https://instagram.com/p/C4abcDEF123"),
        ("https://www.instagram.com/reels/C4abcDEF123/", "https://www.instagram.com/reel/C4abcDEF123/"),
        (
            "https://m.facebook.com/story.php?story_fbid=123&id=456",
            "https://www.facebook.com/permalink.php?story_fbid=123&id=456&mibextid=x",
        ),
        (
            "https://old.reddit.com/r/Example/comments/1b3xyz/slug/",
            "https://www.reddit.com/r/example/comments/1b3xyz/",
        ),
        (
            "https://bsky.app/profile/Ana.bsky.social/post/3kmxyzabc22",
            "https://bsky.app/profile/ana.bsky.social/post/3kmxyzabc22",
        ),
        (
            "https://social.example/users/jon/statuses/111999888777666555",
            "https://social.example/@jon/111999888777666555",
        ),
        ("https://m.vk.com/wall-123_456", "https://vk.com/club123?w=wall-123_456"),
        ("HTTPS://News.Example:443/a/1/?utm_source=x#top", "https://news.example/a/1"),
    ],
)
def test_two_spellings_of_one_post_are_one(one: str, two: str) -> None:
    assert canonical_url(one) == canonical_url(two)


def test_different_posts_stay_different() -> None:
    assert canonical_url("https://x.com/a/status/1") != canonical_url("https://x.com/a/status/2")
    assert canonical_url("https://news.example/a?id=1") != canonical_url("https://news.example/a?id=2")


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=400),
    st.sampled_from(
        [
            "https://x.com/a/status/1",
            "https://t.me/s/c/1",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://vk.com/wall-1_2",
            "https://social.example/@u/1234567",
            "https://example.org/",
        ]
    ),
)
def test_any_html_gives_a_post_and_never_raises(html: str, url: str) -> None:
    p = extract_post(url, html)
    assert p["availability"] in ("available", "login_wall", "unavailable", "deleted")
    assert isinstance(p["media_urls"], list)
