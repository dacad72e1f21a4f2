"""``storywire cluster``'s input: every unusable line reported with why, the documents in
publication order."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from worker.pipeline.backfill_input import BackfillDoc, BackfillError, plan, publication_order

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
    # What a database cannot store, or Python cannot read or compute with:
    (b'{"id": "b", "text": "x\\u0000y"}', '"text" contains a NUL character'),
    (b'{"id": "b", "title": "\\ud800", "text": "x"}', '"title" contains a lone surrogate'),
    (b'{"id": "b", "text": "x", "published_at": "2999-12-31T23:00:00-14:00"}', "published_at"),
    (b'{"id": 1e400, "text": "x"}', 'an object with an "id"'),
    (b'{"id": "b", "text": "x", "n": Infinity}', "not JSON this reader accepts"),
    (b'{"id": "b", "text": "x", "n": ' + b"1" * 4500 + b"}", "not JSON this reader accepts"),
    (b"[" * 50_000, "not JSON this reader accepts: nested too deeply"),
]


def read_docs(lines: list[bytes]) -> tuple[list[BackfillDoc], list[BackfillError]]:
    """The documents of these lines in publication order, and the errors."""
    file = io.BytesIO(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
    found = plan(file)
    return list(found.docs(file)), found.errors


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


def test_a_file_is_planned_in_publication_order_without_holding_its_texts() -> None:
    lines = [
        b'{"id": "may-3", "text": "c", "published_at": "2024-05-03T00:00:00Z"}',
        b'{"id": "undated", "text": "c2"}',
        b"",
        b'{"id": "may-1", "text": "a", "published_at": "2024-05-01T00:00:00Z"}',
        b'{"id": "may-2", "text": "b", "published_at": "2024-05-02T00:00:00Z"}',
    ]
    file = io.BytesIO(b"\n".join(lines) + b"\n")
    found = plan(file)
    assert [number for _, number in found.lines] == [4, 5, 1, 2]  # line numbers, in order
    assert [d.id for d in found.docs(file)] == ["may-1", "may-2", "may-3", "undated"]


def test_undated_documents_keep_their_place_after_the_dated_one_before() -> None:
    def doc(ident: str, day: int | None) -> BackfillDoc:
        when = datetime(2024, 5, day, tzinfo=UTC) if day else None
        return BackfillDoc(id=ident, title="", text=ident, published_at=when)

    ordered = publication_order([doc("c", 3), doc("c+", None), doc("a", 1), doc("b", 2)])
    assert [d.id for d in ordered] == ["a", "b", "c", "c+"]
