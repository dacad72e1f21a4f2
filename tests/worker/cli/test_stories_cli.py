"""storywire cluster (offline backfill through the story step) and stories list/show/retry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from models import Article, Run, make_engine, session_factory, session_scope
from tests.support.services import migrate
from tests.worker.cli.conftest import ok
from tests.worker.stories.test_step import add_article
from worker.cli import app
from worker.config import get_settings

TEXT = (
    "The harbour council approved the new ferry timetable on Monday after a long debate "
    "about night crossings, fares for students and the repair of the northern pier."
)


def _write(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def test_cluster_marks_copies_in_publication_order(cli: CliRunner, tmp_path: Path) -> None:
    docs = _write(
        tmp_path / "in.jsonl",
        [
            {
                "id": "late",
                "title": "Ferry timetable",
                "text": TEXT,
                "published_at": "2026-05-02T10:00:00Z",
                "source": "b.example",
            },
            {
                "id": "early",
                "title": "Council backs timetable",
                "text": TEXT.upper(),
                "published_at": "2026-05-01T09:00:00+02:00",
                "source": "a.example",
            },
            {
                "id": "other",
                "title": "Library prize",
                "text": "A village library won a prize.",
                "published_at": "2026-05-01T12:00:00Z",
            },
        ],
    )
    out = tmp_path / "out.jsonl"
    ok(cli, "cluster", str(docs), "--output", str(out))
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in results] == ["early", "other", "late"]  # publication order
    by_id = {r["id"]: r for r in results}
    assert by_id["late"]["duplicate_of"] == "early"  # same normalized text, published later
    assert by_id["early"]["duplicate_of"] is None
    assert by_id["other"]["duplicate_of"] is None
    assert set(results[0]) == {"id", "story_id", "duplicate_of"}


def test_cluster_in_batches_assigns_as_one_by_one(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three batches of 32 (each next one's features prepared while the one before is
    # written) against one article per transaction: the same output line for line.
    from tests.worker.stories.texts import FILLER, STRIKE, STRIKE_TITLE, VISIT_A, VISIT_A_TITLE

    texts = [*FILLER, (VISIT_A_TITLE, VISIT_A), (STRIKE_TITLE, STRIKE)]
    docs = _write(
        tmp_path / "in.jsonl",
        [
            {"id": f"d{n}", "title": f"{title} ({n // len(texts)})", "text": text}
            for n, (title, text) in ((n, texts[n % len(texts)]) for n in range(80))
        ],
    )
    batched, single = tmp_path / "batched.jsonl", tmp_path / "single.jsonl"
    ok(cli, "cluster", str(docs), "--output", str(batched))
    monkeypatch.setattr("worker.pipeline.backfill.DEFAULT_BACKFILL_BATCH", 1)
    ok(cli, "cluster", str(docs), "--output", str(single))
    lines = batched.read_text().splitlines()
    assert len(lines) == 80 and lines == single.read_text().splitlines()
    # Undated: each repeat is a copy of the first of its text, the earliest fetched (it was
    # once the latest: an undated original sorted after every dated newcomer).
    results = [json.loads(line) for line in lines]
    expected = {f"d{n}": (f"d{n % len(texts)}" if n >= len(texts) else None) for n in range(80)}
    assert {r["id"]: r["duplicate_of"] for r in results} == expected


def test_cluster_keeps_a_database_when_asked(cli: CliRunner, tmp_path: Path) -> None:
    docs = _write(tmp_path / "in.jsonl", [{"id": 1, "title": "T", "text": TEXT}])
    url = f"sqlite:///{tmp_path / 'keep.db'}"
    printed = [
        line
        for line in ok(cli, "cluster", str(docs), "--database-url", url).splitlines()
        if line.startswith("{")
    ]
    assert [json.loads(line)["id"] for line in printed] == ["1"]
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(
            select(Article.title, Article.site_name, Run.kind).join(Run, Run.id == Article.run_id)
        ).all()
    engine.dispose()
    assert [tuple(row) for row in stored] == [("T", None, "backfill")]


def test_cluster_rejects_bad_lines(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": 1, "text": "Fine."}\n{"title": "no id"}\nnot json\n'
        '{"id": 1, "published_at": "soon", "text": "x"}\n'
    )
    out = tmp_path / "out.jsonl"
    result = cli.invoke(app, ["cluster", str(path), "--output", str(out)])
    assert result.exit_code == 1
    # Every unusable line by number, with why; nothing clustered.
    for number, reason in ((2, '"id"'), (3, "not JSON"), (4, "not an ISO 8601 date")):
        assert f"bad.jsonl:{number}: " in result.output
        assert reason in result.output.split(f"bad.jsonl:{number}: ", 1)[1].split("\n", 1)[0]
    assert "3 unusable lines" in result.output
    assert not out.exists()


def test_stories_list_and_show_unknown(cli: CliRunner) -> None:
    assert "headline" in ok(cli, "stories", "list")
    assert cli.invoke(app, ["stories", "show", "7"]).exit_code == 1


def test_stories_retry_forgets_failures_of_articles_without_a_story(
    cli: CliRunner, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    engine = make_engine(sqlite_url)
    sessions = session_factory(engine)
    ids = [add_article(sessions, "T", f"Text {n}.", site=f"s{n}.example") for n in range(4)]
    first, second, third, fine = ids
    with session_scope(sessions) as s:
        s.execute(
            update(Article)
            .where(Article.id.in_([first, second, third]))
            .values(story_error="RuntimeError: a bug", story_attempts=5)
        )

    def failed() -> list[int]:
        with session_scope(sessions) as s:
            rows = s.execute(
                select(Article.id).where(
                    (Article.story_error.is_not(None)) | (Article.story_attempts > 0)
                )
            )
            return sorted(r[0] for r in rows)

    try:
        assert "1 articles to retry" in ok(cli, "stories", "retry", str(first), str(fine))
        assert failed() == [second, third]
        assert "2 articles to retry" in ok(cli, "stories", "retry", "--all")
        assert failed() == []
        assert "0 articles to retry" in ok(cli, "stories", "retry", "--all")
        for wrong in ([], [str(second), "--all"]):
            result = cli.invoke(app, ["stories", "retry", *wrong])
            assert result.exit_code == 1 and "article ids or --all" in result.output
    finally:
        engine.dispose()
