"""storywire cluster (offline backfill through the story step) and stories list/show."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from models import Article, Run, make_engine
from tests.worker.cli.conftest import ok
from worker.cli import app

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
    for bad in ('{"title": "no id"}', "not json", '{"id": 1, "published_at": "soon", "text": "x"}'):
        path = tmp_path / "bad.jsonl"
        path.write_text(bad + "\n")
        result = cli.invoke(app, ["cluster", str(path)])
        assert result.exit_code == 1
        assert "bad.jsonl" in result.output


def test_stories_list_and_show_unknown(cli: CliRunner) -> None:
    assert "headline" in ok(cli, "stories", "list")
    assert cli.invoke(app, ["stories", "show", "7"]).exit_code == 1
