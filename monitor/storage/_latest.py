"""The newest run of every monitor, read for each ``/metrics`` scrape, in three statements.

:class:`LatestRuns` reads the newest run of any status (the API's monitor list) or, with
``verdict=True``, the newest run with a verdict (``ok`` or ``drift``: the drift series
``/metrics`` keeps exporting across ``insufficient_data`` and ``error`` runs).

1. The runs: one correlated ``ORDER BY window_end DESC LIMIT 1`` per monitor name, each an index
   probe on ``(monitor, window_end)`` however long the history (a ``GROUP BY max()`` would read
   every run of every monitor); with ``verdict=True`` the probe walks back past the runs without
   a verdict, as many as the monitor's latest quiet stretch has. The names come from the configuration as one bound array,
   unnested by the dialect's table function (``unnest`` or ``json_each``).
2. Their performance results and estimates, through the ORM (a handful of rows).
3. Their feature results, as plain rows: thousands of them, and building ORM objects for each
   would cost more than the query. A stored run's features never change (only its performance
   is replaced when labels arrive), so :class:`LatestRuns` keeps the features of the runs it
   returned last time and reads features only for runs it has not seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, selectinload

from monitor.domain import FeatureResult, Run, RunStatus
from monitor.storage.tables import FEATURE_FIELDS, FeatureResultRow, RunRow, feature_result

__all__ = ["LatestRuns"]

_FIELDS = FEATURE_FIELDS
# new_categories as its JSON text: almost always "[]", which needs no parsing (thousands of rows).
_FEATURE_COLUMNS = tuple(sa.cast(FeatureResultRow.new_categories, sa.Text()) if name == "new_categories"
                         else FeatureResultRow.__table__.c[name] for name in _FIELDS)


def _names(dialect: str, monitors: Sequence[str]) -> sa.TableValuedAlias:
    """The monitor names as a one-column table ``value`` (``json_each``'s own column name)."""
    if dialect == "postgresql":
        array = sa.bindparam("monitors", list(monitors), type_=postgresql.ARRAY(sa.Text()))
        return sa.func.unnest(array).table_valued("value").render_derived()
    return sa.func.json_each(json.dumps(list(monitors))).table_valued("value")


_VERDICTS = tuple(s.value for s in RunStatus if s.has_verdict)


class LatestRuns:
    """Reads the newest run (by window end; of any status, or with a verdict) of each monitor; thread-safe.

    One instance per kind of answer (:meth:`read`) or for both at once (:meth:`read_both`): each
    keeps the features of the runs it returned last.
    """

    def __init__(self, *, verdict: bool = False) -> None:
        self._verdict = verdict
        self._features: dict[str, tuple[FeatureResult, ...]] = {}  # run id -> features, of the last answer

    def read(self, session: Session, monitors: Sequence[str]) -> dict[str, Run]:
        return self._read(session, monitors, (self._verdict,))[0]

    def read_both(self, session: Session, monitors: Sequence[str]) -> tuple[dict[str, Run], dict[str, Run]]:
        """(newest run of any status, newest run with a verdict) per monitor, in one pass.

        What a scrape needs: both probes in one statement and each run read once, although the
        two are usually the same run.
        """
        latest, verdicts = self._read(session, monitors, (False, True))
        return latest, verdicts

    def _read(self, session: Session, monitors: Sequence[str], kinds: tuple[bool, ...]) -> list[dict[str, Run]]:
        names = _names(session.get_bind().dialect.name, monitors)
        probes = []
        for verdict in kinds:
            probe = sa.select(RunRow.id).where(RunRow.monitor == names.c.value)
            if verdict:
                probe = probe.where(RunRow.status.in_(_VERDICTS))
            probes.append(probe.order_by(RunRow.window_end.desc()).limit(1).scalar_subquery())
        found = [tuple(row) for row in session.execute(sa.select(*probes).select_from(names))]
        ids = sorted({run_id for row in found for run_id in row if run_id is not None})
        if not ids:
            return [{} for _ in kinds]
        # By primary key, apart from the probes above: folded into one statement, the planner may
        # prefer hashing the whole runs table to probing it 50 times.
        rows = list(session.scalars(sa.select(RunRow).where(RunRow.id.in_(ids))
                                    .options(selectinload(RunRow.performance), selectinload(RunRow.estimates))))
        known = self._features  # read once: another thread may replace it meanwhile
        features = {row.id: known[row.id] for row in rows if row.id in known}
        features.update(self._read_features(session, [row.id for row in rows if row.id not in known]))
        self._features = features
        runs = {row.id: row.to_domain(features=features[row.id]) for row in rows}
        return [{run.monitor: run for run_id in column if run_id is not None and (run := runs.get(run_id)) is not None}
                for column in zip(*found, strict=True)] if found else [{} for _ in kinds]

    @staticmethod
    def _read_features(session: Session, run_ids: list[str]) -> dict[str, tuple[FeatureResult, ...]]:
        found: dict[str, list[FeatureResult]] = {run_id: [] for run_id in run_ids}
        if not run_ids:
            return {}
        # Ordered by position alone: each run's rows keep their order, and the database is spared
        # sorting thousands of run ids under the text collation.
        query = (sa.select(FeatureResultRow.run_id, *_FEATURE_COLUMNS)
                 .where(FeatureResultRow.run_id.in_(run_ids)).order_by(FeatureResultRow.position))
        for run_id, *values in session.connection().execute(query):
            fields = dict(zip(_FIELDS, values, strict=True))
            text = fields["new_categories"]
            fields["new_categories"] = None if text == "[]" else json.loads(text)
            found[run_id].append(feature_result(fields))
        return {run_id: tuple(results) for run_id, results in found.items()}
