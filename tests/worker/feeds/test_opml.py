from __future__ import annotations

import pytest

from worker.feeds import OpmlError, OpmlOutline, read_opml, write_opml

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="News">
      <outline type="rss" text="Harbour Gazette" title="Harbour Gazette"
               xmlUrl="https://gazette.example.org/feed.xml"
               htmlUrl="https://gazette.example.org/"/>
      <outline text="Inner folder">
        <outline type="rss" text="Night Trains" xmlUrl="https://trains.example.com/feed.json"/>
      </outline>
    </outline>
    <outline type="rss" text="Duplicate" xmlUrl="https://gazette.example.org/feed.xml"/>
    <outline type="link" text="Just a bookmark" url="javascript:alert(1)"/>
    <outline text="Folder without feeds"/>
    <outline text="Old scheme" xmlurl="feed://old.example.net/rss"/>
    <outline text="  Spaced
       title " xmlUrl="http://spaced.example.com/rss"/>
  </body>
</opml>
"""


def test_read_flattens_dedupes_and_skips_non_feeds() -> None:
    assert read_opml(NESTED) == [
        OpmlOutline(
            "https://gazette.example.org/feed.xml",
            "Harbour Gazette",
            "https://gazette.example.org/",
        ),
        OpmlOutline("https://trains.example.com/feed.json", "Night Trains", None),
        OpmlOutline("http://old.example.net/rss", "Old scheme", None),
        OpmlOutline("http://spaced.example.com/rss", "Spaced title", None),
    ]


def test_write_then_read_round_trips() -> None:
    outlines = [
        OpmlOutline(
            "https://a.example.com/feed?x=1&y=2", 'Quotes " & <angles>', "https://a.example.com/"
        ),
        OpmlOutline("https://b.example.com/rss", None, None),
    ]
    data = write_opml(outlines, title="Mine")
    assert data.startswith(b"<?xml")
    assert b"<title>Mine</title>" in data
    back = read_opml(data)
    assert back[0] == outlines[0]
    assert back[1] == OpmlOutline("https://b.example.com/rss", "https://b.example.com/rss", None)


def test_entity_bombs_are_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example.com/"/></body></opml>"""
    with pytest.raises(OpmlError) as caught:
        read_opml(bomb)
    assert caught.value.error_class == "forbidden"


def test_external_entity_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "s.txt"
    secret.write_text("SECRET")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>
<opml version="2.0"><body><outline text="&x;" xmlUrl="https://x.example.com/"/></body></opml>""".encode()
    with pytest.raises(OpmlError) as caught:
        read_opml(xxe)
    assert caught.value.error_class == "forbidden"
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "error_class"),
    [
        (b"<opml><body><outline xmlUrl='https://x.example.com/'></body>", "malformed"),
        (b"", "malformed"),
        (b"<rss version='2.0'><channel/></rss>", "not_opml"),
    ],
)
def test_unreadable_files_raise_opml_error(data: bytes, error_class: str) -> None:
    with pytest.raises(OpmlError) as caught:
        read_opml(data)
    assert caught.value.error_class == error_class
