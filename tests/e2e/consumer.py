"""A consumer of Storywire's change feed that knows nothing of Storywire (psycopg only).

    python consumer.py POSTGRES_URL OUT.jsonl STOP_FILE

Follows `changes` by cursor, woken by LISTEN storywire_changes, appends every change as a
JSON line to OUT, and exits once STOP_FILE exists and nothing new is left to read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg

QUERY = "SELECT id, kind, entity_id, payload FROM changes WHERE id > %s ORDER BY id LIMIT 100"


def main(url: str, out_path: str, stop_file: str) -> None:
    url = url.replace("postgresql+psycopg://", "postgresql://")
    cursor = 0
    with psycopg.connect(url, autocommit=True) as conn, open(out_path, "a") as out:
        conn.execute("LISTEN storywire_changes")
        while True:
            rows = conn.execute(QUERY, (cursor,)).fetchall()
            for change_id, kind, entity_id, payload in rows:
                out.write(
                    json.dumps(
                        {"id": change_id, "kind": kind, "entity_id": entity_id, "payload": payload}
                    )
                    + "\n"
                )
                cursor = change_id
            out.flush()
            if rows:
                continue
            if Path(stop_file).exists():
                return
            for _ in conn.notifies(timeout=0.5, stop_after=1):
                pass


if __name__ == "__main__":
    main(*sys.argv[1:4])
