"""The results store: one SQLite file per run folder (``lab.sqlite``).

Tables:
- ``meta(key, value)``: the resolved spec, its key, package versions.
- ``units(arm, seed, kind, status, path, started, finished, seconds, detail)``: one row per
  unit of work (``kind`` = ``train`` or ``probe``); ``status`` = ``running`` or ``done``.
- ``metrics(arm, seed, probe, metric, value, lo, hi)``: every probe metric with its CI.
- ``records(arm, seed, probe, idx, record)``: per-item probe records (JSON).
- ``curves(arm, seed, step, key, value)``: training log history (loss, reward, ...).

A unit's results and its ``done`` mark are written in one transaction, so a run killed at
any moment leaves either all of a unit or none of it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
  arm TEXT NOT NULL, seed INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  path TEXT, started REAL, finished REAL, seconds REAL, detail TEXT,
  PRIMARY KEY (arm, seed, kind));
CREATE TABLE IF NOT EXISTS metrics (
  arm TEXT NOT NULL, seed INTEGER NOT NULL, probe TEXT NOT NULL, metric TEXT NOT NULL,
  value REAL, lo REAL, hi REAL, n INTEGER, PRIMARY KEY (arm, seed, probe, metric));
CREATE TABLE IF NOT EXISTS records (
  arm TEXT NOT NULL, seed INTEGER NOT NULL, probe TEXT NOT NULL, idx INTEGER NOT NULL,
  record TEXT NOT NULL, PRIMARY KEY (arm, seed, probe, idx));
CREATE TABLE IF NOT EXISTS curves (
  arm TEXT NOT NULL, seed INTEGER NOT NULL, step REAL NOT NULL, key TEXT NOT NULL,
  value REAL, PRIMARY KEY (arm, seed, step, key));
"""
DB_NAME = "lab.sqlite"
RESULT_TABLES = ("units", "metrics", "records", "curves")


class Store:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        if "key" not in {row[1] for row in self.db.execute("PRAGMA table_info(units)")}:
            self.db.execute("ALTER TABLE units ADD COLUMN key TEXT")  # databases of sparring <= 0.1

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # ---- units --------------------------------------------------------------------------
    def unit(self, arm: str, seed: int, kind: str) -> dict | None:
        row = self.db.execute(
            "SELECT status, path, seconds, detail, key FROM units WHERE arm=? AND seed=? AND kind=?", (arm, seed, kind)
        ).fetchone()
        if row is None:
            return None
        return {
            "status": row[0],
            "path": row[1],
            "seconds": row[2],
            "detail": json.loads(row[3]) if row[3] else {},
            "key": row[4],
        }

    def done(self, arm: str, seed: int, kind: str, key: str) -> bool:
        """Finished, with that unit key."""
        u = self.unit(arm, seed, kind)
        return u is not None and u["status"] == "done" and u["key"] == key

    def start(self, arm: str, seed: int, kind: str, key: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO units (arm, seed, kind, status, started, key) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (arm, seed, kind, time.time(), key),
            )

    def set_keys(self, keys: dict[tuple[str, int, str], str]) -> None:
        """Record the unit keys of units that have none (written before keys existed)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE units SET key=? WHERE arm=? AND seed=? AND kind=? AND key IS NULL",
                [(k, *u) for u, k in keys.items()],
            )

    def discard(self, drop: Callable[[str, int], bool]) -> None:
        """Delete every result (unit marks, metrics, records, curves) of the (arm, seed) pairs
        for which ``drop(arm, seed)`` is true, so that they are redone or gone."""
        with self.transaction() as db:
            for table in RESULT_TABLES:
                pairs = [tuple(r) for r in db.execute(f"SELECT DISTINCT arm, seed FROM {table}") if drop(*r)]
                db.executemany(f"DELETE FROM {table} WHERE arm=? AND seed=?", pairs)

    def finish_train(
        self, arm: str, seed: int, path: str, seconds: float, detail: dict, curves: list[tuple[float, str, float]]
    ) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM curves WHERE arm=? AND seed=?", (arm, seed))
            db.executemany(
                "INSERT OR REPLACE INTO curves VALUES (?, ?, ?, ?, ?)", [(arm, seed, s, k, v) for s, k, v in curves]
            )
            self._mark(db, arm, seed, "train", path, seconds, detail)

    def finish_probes(self, arm: str, seed: int, results: dict, seconds: float) -> None:
        """All probe results of one (arm, seed) and its done mark, atomically."""
        with self.transaction() as db:
            for table in ("metrics", "records"):
                db.execute(f"DELETE FROM {table} WHERE arm=? AND seed=?", (arm, seed))
            for name, r in results.items():
                db.executemany(
                    "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(arm, seed, name, m, v, *(r.ci.get(m) or (None, None)), r.n) for m, v in r.metrics.items()],
                )
                db.executemany(
                    "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                    [(arm, seed, name, i, json.dumps(rec, sort_keys=True)) for i, rec in enumerate(r.records)],
                )
            primaries = {name: r.primary for name, r in results.items()}
            self._mark(db, arm, seed, "probe", None, seconds, {"primary": primaries})

    @staticmethod
    def _mark(db, arm, seed, kind, path, seconds, detail) -> None:
        """Mark a unit done, keeping the start time and unit key that ``start`` recorded."""
        values = (path, time.time(), seconds, json.dumps(detail, sort_keys=True, default=str), arm, seed, kind)
        cur = db.execute(
            "UPDATE units SET status='done', path=?, finished=?, seconds=?, detail=? WHERE arm=? AND seed=? AND kind=?",
            values,
        )
        if cur.rowcount == 0:  # finished without a recorded start
            db.execute(
                "INSERT INTO units (path, finished, seconds, detail, arm, seed, kind, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'done')",
                values,
            )

    # ---- reading ------------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        cur = self.db.execute(
            "SELECT arm, seed, probe, metric, value, lo, hi, n FROM metrics ORDER BY arm, seed, probe, metric"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def records(self, arm: str, probe: str) -> dict[int, list[dict]]:
        """Per-item records of one arm and probe, by seed."""
        out: dict[int, list[dict]] = {}
        for seed, rec in self.db.execute(
            "SELECT seed, record FROM records WHERE arm=? AND probe=? ORDER BY seed, idx", (arm, probe)
        ):
            out.setdefault(seed, []).append(json.loads(rec))
        return out

    def curves(self) -> list[tuple[str, int, float, str, float]]:
        return list(self.db.execute("SELECT arm, seed, step, key, value FROM curves ORDER BY arm, seed, key, step"))

    def units(self) -> list[dict]:
        cur = self.db.execute(
            "SELECT arm, seed, kind, status, path, seconds, detail, key FROM units ORDER BY arm, seed, kind"
        )
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
