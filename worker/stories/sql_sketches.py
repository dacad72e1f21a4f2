"""Layer 3's state in SQL: MinHash sketches and their LSH bands, for ``SqlStoryIndex``.

Usage: a part of ``SqlStoryIndex`` (``worker/stories/sql.py``); see ``StoryIndex`` for the
methods. A syndicated copy is found with one indexed query on its band keys; a batch reads the
sketches of all its articles' band keys at once (``_read_bands_ahead``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import (
    Table,
    insert,
    select,
    text,
)

from models.story_state import (
    ArticleBand,
    ArticleSketch,
)
from worker.dedupe.minhash import Sketch
from worker.stories.index import (
    StoredSketch,
)
from worker.stories.sql_batch import BatchState
from worker.stories.sql_writes import int_array

_BANDS = cast(Table, ArticleBand.__table__)
_SKETCHES = cast(Table, ArticleSketch.__table__)

_PG_NEAR = text(
    "SELECT k.article_id, k.signature, k.shingles, k.published_at FROM article_sketches AS k"
    " WHERE k.article_id IN (SELECT b.article_id FROM article_bands AS b"
    " WHERE b.band_key = ANY(CAST(:keys AS bigint[])))"
    " ORDER BY k.article_id"
).columns(published_at=ArticleSketch.__table__.c.published_at.type)
# The keys' array literal is read once, by a sub-select (an InitPlan; the outer CAST makes it
# one array value, not a subquery of rows). Written inline, a sequential scan (the plan of a
# table too new to have statistics) parsed the whole batch's literal again for every row it
# looked at: 0.2-1 s a batch at a few thousand bands, growing with the table
# (docs/throughput.md).
_PG_NEAR_BY_KEYS = text(
    "SELECT b.band_key, k.article_id, k.signature, k.shingles, k.published_at"
    " FROM article_bands AS b JOIN article_sketches AS k ON k.article_id = b.article_id"
    " WHERE b.band_key = ANY(CAST((SELECT CAST(CAST(:keys AS text) AS bigint[])) AS bigint[]))"
).columns(published_at=ArticleSketch.__table__.c.published_at.type)


class SketchIndex(BatchState):
    """``near_candidates`` and ``add_sketch`` on ``article_sketches`` / ``article_bands``."""

    def _read_bands_ahead(self, keys: list[int]) -> None:
        """The stored sketches of a batch's band keys, in one statement."""
        self._near_ahead = {k: [] for k in keys}
        if keys:
            decoded: dict[int, StoredSketch] = {}
            for key, article_id, signature, shingles, published in self.session.execute(
                _PG_NEAR_BY_KEYS, {"keys": int_array(keys)}
            ):
                stored = decoded.get(article_id)
                if stored is None:
                    sketch = Sketch.from_bytes(signature, shingles)
                    stored = decoded[article_id] = StoredSketch(article_id, sketch, published)
                self._near_ahead[key].append(stored)

    def near_candidates(self, band_keys: Sequence[int]) -> list[StoredSketch]:
        if self._postgres:
            ahead = self._near_ahead
            if ahead is not None and all(k in ahead for k in band_keys):
                near = {s.article_id: s for k in band_keys for s in ahead[k]}
            else:
                found = self.session.execute(_PG_NEAR, {"keys": list(band_keys)}).all()
                near = {
                    r[0]: StoredSketch(r[0], Sketch.from_bytes(r[1], r[2]), r[3]) for r in found
                }
            for key in band_keys:  # and the sketches held back
                near.update((s.article_id, s) for s in self._bands.get(key, ()))
            return [near[article_id] for article_id in sorted(near)]
        ids = select(ArticleBand.article_id).where(ArticleBand.band_key.in_(list(band_keys)))
        rows = self.session.scalars(
            select(ArticleSketch)
            .where(ArticleSketch.article_id.in_(ids))
            .order_by(ArticleSketch.article_id)
        ).all()
        return [
            StoredSketch(r.article_id, Sketch.from_bytes(r.signature, r.shingles), r.published_at)
            for r in rows
        ]

    def add_sketch(
        self,
        article_id: int,
        sketch: Sketch,
        band_keys: Sequence[int],
        published_at: datetime | None,
    ) -> None:
        row = {
            "article_id": article_id,
            "signature": sketch.to_bytes(),
            "shingles": sketch.shingles,
            "published_at": published_at,
        }
        keys = sorted(set(band_keys))
        if self._postgres:
            self._writes.add_sketch({**row, "keys": keys})
            stored = StoredSketch(article_id, sketch, published_at)
            for key in keys:
                self._bands.setdefault(key, []).append(stored)
            return
        connection = self.session.connection()
        connection.execute(insert(_SKETCHES), row)
        connection.execute(
            insert(_BANDS), [{"band_key": k, "article_id": article_id} for k in keys]
        )
