"""Regenerate the bundled example files from River's TrumpApproval data set (shipped in the wheel).

Daily approval estimates of five pollsters and their average, 2017-2019: the first 500 days
are the reference, the remaining days the current window, so the check shows a real change
in public opinion. The day number itself is left out (a time column always "drifts").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from river import datasets


def main() -> None:
    rows = [{**x, "approval": y} for x, y in datasets.TrumpApproval()]
    frame = pd.DataFrame(rows).drop(columns=["ordinal_date"]).round(4)
    here = Path(__file__).parent
    frame.iloc[:500].to_csv(here / "reference.csv", index=False)
    frame.iloc[500:].to_csv(here / "current.csv", index=False)


if __name__ == "__main__":
    main()
