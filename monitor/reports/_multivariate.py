"""The report's multivariate section: each joint-distribution test, its verdict and the features that drove it."""

from __future__ import annotations

from monitor.domain import Run
from monitor.reports._html import e, fmt

__all__ = ["multivariate_section"]

_WHAT = {"pca_reconstruction": "mean PCA reconstruction error", "domain_classifier": "held-out ROC AUC",
         "mmd": "kernel MMD²"}


def multivariate_section(run: Run) -> str:
    """A table of the run's multivariate results, drifted first (empty string when there are none)."""
    if not run.multivariate:
        return ""
    rows = []
    for m in sorted(run.multivariate, key=lambda r: not r.drifted):
        top = ", ".join(f"{e(f.feature)} ({fmt(f.score)})" for f in m.top_features) or "–"
        verdict = '<span class="yes">drift</span>' if m.drifted else '<span class="no">no drift</span>'
        rows.append(f'<tr class="mv-row" data-method="{e(str(m.method))}" data-drifted="{str(m.drifted).lower()}">'
                    f"<td>{e(str(m.method))}</td><td>{e(_WHAT.get(str(m.method), ''))}</td>"
                    f'<td class="num">{fmt(m.statistic)}</td><td class="num">{fmt(m.threshold)}</td>'
                    f'<td class="num">{fmt(m.p_value)}</td><td>{verdict}</td><td>{top}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("Method", "Statistic", "Value", "Threshold", "p-value", "Verdict",
                                               "Top features"))
    return ('<section id="multivariate"><h2>Multivariate drift</h2><p class="muted">Tests of the features\' joint '
            "distribution: a correlation that flips or two swapped columns can leave every column's own test "
            f"quiet.</p><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")
