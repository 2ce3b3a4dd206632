"""``driftline backtest``: replay history in windows and measure how a monitor would have alerted.

The reference is fitted once; the history is cut into consecutive windows, optionally with known
drift injected at a known time, and every window is checked under the calibrated rule and
Evidently's side by side. Reported per feature and for the dataset verdict: false alarms per 30
days on the clean stretch, detection delay and power on the injected one; ``--budget`` proposes
per-feature thresholds that meet a false-alarm budget. See docs/backtest.md.
"""

from monitor.backtest._budget import Proposal, parse_budget, propose
from monitor.backtest._command import Backtest, backtest_command, run_backtest
from monitor.backtest._inject import Injection, InjectionKind, apply_injections, parse_injection
from monitor.backtest._replay import Rates, Record, Replay, Windows, cut_windows, rates, replay

__all__ = [
    "Backtest",
    "Injection",
    "InjectionKind",
    "Proposal",
    "Rates",
    "Record",
    "Replay",
    "Windows",
    "apply_injections",
    "backtest_command",
    "cut_windows",
    "parse_budget",
    "parse_injection",
    "propose",
    "rates",
    "replay",
    "run_backtest",
]
