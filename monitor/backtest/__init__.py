"""``driftline backtest``: replay history in windows and measure how a monitor would have alerted.

The reference is fitted once; the history is cut into consecutive windows, optionally with known
drift injected at a known time, and every window is checked under the calibrated rule and
Evidently's side by side. Reported per feature and for the dataset verdict: false alarms per 30
days on the clean stretch, detection delay and power on the injected one; ``--budget`` proposes
per-feature thresholds that meet a false-alarm budget. The history is two files (a reference and
a log, ``_command``) or a monitor's stored history read through the service's ports
(``_stored``). See docs/backtest.md.
"""

from monitor.backtest._budget import Proposal, parse_budget, propose
from monitor.backtest._command import backtest_command, run_backtest
from monitor.backtest._inject import Injection, InjectionKind, apply_injections, check_injections, parse_injection
from monitor.backtest._replay import Rates, Record, Replay, Windows, cut_windows, rates, replay, replay_frames
from monitor.backtest._stored import run_stored, window_ends
from monitor.backtest._summary import Backtest, StoredMonitor, summarise

__all__ = [
    "Backtest",
    "Injection",
    "InjectionKind",
    "Proposal",
    "Rates",
    "Record",
    "Replay",
    "StoredMonitor",
    "Windows",
    "apply_injections",
    "backtest_command",
    "check_injections",
    "cut_windows",
    "parse_budget",
    "parse_injection",
    "propose",
    "rates",
    "replay",
    "replay_frames",
    "run_backtest",
    "run_stored",
    "summarise",
    "window_ends",
]
