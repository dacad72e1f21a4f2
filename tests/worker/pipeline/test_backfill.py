"""Reading ``storywire cluster`` input: every unusable line reported with why, nothing else lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.pipeline.backfill import BackfillDoc, publication_order, read_docs

# One bad line each, and the start of the reason it must be reported with.
BAD_LINES = [
    (b"not json", "not JSON"),
    (b'{"id": "a", "text": "caf\xe9"}', "not UTF-8"),
    (b"[1, 2]", 'an object with an "id"'),
    (b'{"title": "no id", "text": "x"}', 'an object with an "id"'),
    (b'{"id": null, "text": "x"}', 'an object with an "id"'),
    (b'{"id": "  ", "text": "x"}', 'an object with an "id"'),
    (b'{"id": true, "text": "x"}', 'an object with an "id"'),
    (b'{"id": "b"}', '"title" and/or "text" strings'),
    (b'{"id": "b", "title": 5, "text": null}', '"title" and/or "text" strings'),
    (b'{"id": "b", "text": "x", "url": 7}', '"url" must be a string'),
    (b'{"id": "b", "text": "x", "source": ["x"]}', '"source" must be a string'),
    (b'{"id": "b", "text": "x", "published_at": "soon"}', "published_at 'soon' is not"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_bad_line_is_reported_with_its_number_and_why(line: bytes, reason: str) -> None:
    docs, errors = read_docs([b'{"id": 1, "text": "Fine."}\n', b"\n", line + b"\n"])
    assert [d.id for d in docs] == ["1"]
    assert [(e.line, e.reason[: len(reason)]) for e in errors] == [(3, reason)]


def test_every_bad_line_is_reported_and_the_good_ones_kept() -> None:
    lines = [b'{"id": 1, "text": "One."}'] + [line for line, _ in BAD_LINES]
    lines.append(b'{"id": "z", "title": "Last", "published_at": "2024-05-06T08:00:00"}')
    docs, errors = read_docs(lines)
    assert [e.line for e in errors] == list(range(2, 2 + len(BAD_LINES)))
    assert [d.id for d in docs] == ["1", "z"]
    assert docs[1].published_at == datetime(2024, 5, 6, 8, tzinfo=UTC)  # naive dates are UTC


def test_an_id_given_twice_is_one_document_or_an_error() -> None:
    same = b'{"id": "a", "title": "T", "text": "Same."}'
    docs, errors = read_docs([same, same])
    assert not errors and [d.id for d in docs] == ["a", "a"]  # as given, one line out each
    docs, errors = read_docs([same, b'{"id": "a", "title": "T", "text": "Other."}'])
    assert [d.id for d in docs] == ["a"]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "id 'a' is also on line 1, with other contents")
    ]


def test_undated_documents_keep_their_place_after_the_dated_one_before() -> None:
    def doc(ident: str, day: int | None) -> BackfillDoc:
        when = datetime(2024, 5, day, tzinfo=UTC) if day else None
        return BackfillDoc(id=ident, title="", text=ident, published_at=when)

    ordered = publication_order([doc("c", 3), doc("c+", None), doc("a", 1), doc("b", 2)])
    assert [d.id for d in ordered] == ["a", "b", "c", "c+"]
