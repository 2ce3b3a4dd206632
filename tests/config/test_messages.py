"""Validation errors in Driftline's words, one per pydantic error type a user meets, each at its line.

Every message is asserted as text. A sweep then breaks every value and every mapping of the
annotated example of docs/configuration.md in the ways files get broken (text for a number, a
list for a mapping, an empty value, an unknown key ...) and checks that no message carries
pydantic's phrasing and that each is located ``FILE:LINE``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from monitor._yaml import plain
from monitor.config import ConfigErrors, DriftlineConfig, load_config
from monitor.config_errors import format_errors

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
monitors:
  - name: churn
    model: churn-v3
    schema:
      numerical: [age, income]
      categorical: [plan]
    every: 15m
    window: {last: 1h}
    min_rows: 200
    features:
      age: {method: ks, alpha: 0.01}
      plan: {method: psi, threshold: 0.2}
webhooks:
  - name: ops
    url: https://hooks.example.com/x
"""

#: pydantic's own phrasing: none of it may reach a user.
PYDANTIC = ("Input should be", "instance of", "For further information visit", "Field required", "Extra inputs",
            "String should", "Value error", "Unable to extract tag", "Input tag", "Tuple should", "type=",
            "validation error", "errors.pydantic.dev")


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigErrors) as err:
        load_config(path, env={})
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in err.value.errors), err.value.errors
    return [line.removeprefix(prefix) for line in err.value.errors]


CASES = [
    # extra_forbidden: difflib among the model's own keys
    ("typo", ("alpha: 0.01", "alpah: 0.01"),
     "11 monitors.0.features.age.alpah: unknown key 'alpah' (did you mean 'alpha'?)"),
    ("unknown-no-match", ("min_rows: 200", "colour: blue"),
     "9 monitors.0.colour: unknown key 'colour'; allowed keys: name, model, schema, source, reference, every, cron, "
     "window, min_rows, drift_share, correction, compat, fdr, min_features, features, performance, alerts, retrain, retention, "
     "multivariate, segments, segment_min_rows, segment_top_k"),
    ("window-key", ("{last: 1h}", "{size: 1h}"), "8 monitors.0.window.size: unknown key 'size'; allowed keys: last, rows"),
    ("top-level", ("monitors:", "monitor:"), "1 missing required key 'monitors'"),
    # the method -> parameter rule: tests take alpha, distances take threshold
    ("threshold-on-test", ("method: ks, alpha", "method: ks, threshold"),
     "11 monitors.0.features.age.threshold: unknown key 'threshold': ks is a p-value test: it takes alpha "
     "(a distance takes threshold) (did you mean 'alpha'?)"),
    ("effect-floor-on-distance", ("threshold: 0.2", "effect_floor: 0.2"),
     "12 monitors.0.features.plan.effect_floor: unknown key 'effect_floor': psi is a distance: its threshold is the "
     "effect floor (did you mean 'threshold'?)"),
    ("alpha-on-distance-evidently", ("min_rows: 200", "compat: evidently\n    min_rows: 200"),
     None),  # replaced below: needs alpha on plan too
    # missing
    ("missing", ("    model: churn-v3\n", ""), "2 monitors.0: missing required key 'model'"),
    # model_type / dict_type
    ("window-not-mapping", ("window: {last: 1h}", "window: 1h"),
     "8 monitors.0.window: expected a mapping like {last: 1h} or {rows: 10000}, got '1h'"),
    ("schema-not-mapping", ("    schema:\n      numerical: [age, income]\n      categorical: [plan]\n",
                            "    schema: [age]\n    window2: 1\n"), "4 monitors.0.schema: expected a mapping like "
     "{numerical: [age, income], categorical: [plan]}, got a list"),
    ("features-not-mapping", ("    features:\n      age: {method: ks, alpha: 0.01}\n      plan: {method: psi, threshold: 0.2}\n",
                              "    features: [age]\n"),
     "10 monitors.0.features: expected a mapping like {age: {method: ks, alpha: 0.01}}, got a list"),
    ("option-not-mapping", ("{method: ks, alpha: 0.01}", "ks"),
     "11 monitors.0.features.age: expected a mapping like {method: ks, alpha: 0.01}, got 'ks'"),
    ("source-not-mapping", ("min_rows: 200", "source: sql"), "9 monitors.0.source: expected a mapping like {type: store}, got 'sql'"),
    ("file-not-mapping", None, "1 the file must be a mapping with a 'monitors' list, got a list"),
    # lists
    ("not-a-list", ("numerical: [age, income]", "numerical: age"),
     "5 monitors.0.schema.numerical: expected a list (such as [a, b], or one '- item' per line), got 'age'"),
    # literal_error / enum: the valid choices listed, the closest suggested
    ("enum", ("min_rows: 200", "correction: holmes"),
     "9 monitors.0.correction: 'holmes' is not one of: none, bonferroni, holm, benjamini_hochberg (did you mean 'holm'?)"),
    ("literal", ("url: https://hooks.example.com/x", "url: https://hooks.example.com/x\n    max_attempts: 3\n"
                                                     "monitors2: 1"), None),
    ("detector", ("min_rows: 200", "performance: {detector: adwinn}"),
     "9 monitors.0.performance.detector: 'adwinn' is not one of: cusum, adwin, page_hinkley, kswin, hddm_a, hddm_w "
     "(did you mean 'adwin'?)"),
    # union_tag_invalid / union_tag_not_found: the valid kinds named
    ("method", ("method: ks", "method: kss"), "11 monitors.0.features.age.method: 'kss' is not a method; use one of: ks, "
     "cramer_von_mises, anderson, t_test, mann_whitney, epps_singleton, chi_square, z_test, fisher_exact, g_test, "
     "kuiper, wasserstein, energy_distance, psi, jensen_shannon, kl_div, hellinger, tvd, l_infinity, text_domain_classifier, text_length, oov_share, "
     "non_letter_share, embedding_mmd, embedding_classifier (did you mean 'ks'?)"),
    ("evidently-method", ("method: ks", "method: mannw"), "11 monitors.0.features.age.method: 'mannw' is not a method; "
     "use one of: ks, cramer_von_mises, anderson, t_test, mann_whitney, epps_singleton, chi_square, z_test, "
     "fisher_exact, g_test, kuiper, wasserstein, energy_distance, psi, jensen_shannon, kl_div, hellinger, tvd, "
     "l_infinity, text_domain_classifier, text_length, oov_share, non_letter_share, embedding_mmd, embedding_classifier "
     "('mannw' is Evidently's name; Driftline's is 'mann_whitney')"),
    ("source-type", ("min_rows: 200", "source: {type: postgres}"),
     "9 monitors.0.source.type: 'postgres' is not a source type; use one of: store, sql, files"),
    ("source-no-type", ("min_rows: 200", "source: {table: t}"),
     "9 monitors.0.source: missing key 'type' (one of: store, sql, files)"),
    ("reference-type", ("min_rows: 200", "reference: {type: uplod}"),
     "9 monitors.0.reference.type: 'uplod' is not a reference type; use one of: file, store, upload, previous_window, "
     "rolling, same_period (did you mean 'upload'?)"),
    ("no-method", ("method: ks, alpha: 0.01", "alpha: 0.01"), "11 monitors.0.features.age: missing key 'method' (one of: "
     "ks, cramer_von_mises, anderson, t_test, mann_whitney, epps_singleton, chi_square, z_test, fisher_exact, g_test, "
     "kuiper, wasserstein, energy_distance, psi, jensen_shannon, kl_div, hellinger, tvd, l_infinity, text_domain_classifier, "
     "text_length, oov_share, non_letter_share, embedding_mmd, embedding_classifier)"),
    # numbers and booleans
    ("int-parsing", ("min_rows: 200", "min_rows: lots"), "9 monitors.0.min_rows: expected a whole number, got 'lots'"),
    ("int-from-float", ("min_rows: 200", "min_rows: 1.5"), "9 monitors.0.min_rows: expected a whole number, got 1.5"),
    ("float-parsing", ("alpha: 0.01", "alpha: low"), "11 monitors.0.features.age.alpha: expected a number, got 'low'"),
    ("bool-parsing", ("min_rows: 200", "fdr: maybe"), "9 monitors.0.fdr: expected true or false, got 'maybe'"),
    ("text-is-bool", ("name: churn", "name: yes"), "2 monitors.0.name: expected text, got true (YAML reads yes, no, on, "
     "off, true and false as booleans: quote the text)"),
    ("text-is-date", ("min_rows: 200", "reference: {type: store, from: 2025-01-01, to: '2025-02-01'}"),
     "9 monitors.0.reference.from: expected text, got 2025-01-01 (YAML reads an unquoted date as a date: quote it)"),
    ("empty-value", ("model: churn-v3", "model:"), "3 monitors.0.model: expected text, got an empty value"),
    # ranges, lengths, names
    ("open-interval", ("alpha: 0.01", "alpha: 1.5"), "11 monitors.0.features.age.alpha: must be in the open interval (0, 1), got 1.5"),
    ("half-open", ("min_rows: 200", "drift_share: 0"), "9 monitors.0.drift_share: must be in (0, 1], got 0"),
    ("at-least", ("min_rows: 200", "min_rows: 0"), "9 monitors.0.min_rows: must be at least 1, got 0"),
    ("closed", ("url: https://hooks.example.com/x", "url: https://hooks.example.com/x\n    max_attempts: 500"),
     "16 webhooks.0.max_attempts: must be in [1, 100], got 500"),
    ("at-least-0", ("threshold: 0.2", "threshold: -1"), "12 monitors.0.features.plan.threshold: must be at least 0, got -1"),
    ("too-short", ("min_rows: 200", "retrain: {on: [], action: {type: command, argv: [x]}}"),
     "9 monitors.0.retrain.on: needs at least 1 item"),
    ("name", ("name: churn", "name: Churn"), "2 monitors.0.name: 'Churn' is not a valid name: lower-case letters, digits, "
     "'_' and '-', starting with a letter or a digit, at most 63 characters"),
    ("webhook-url", ("url: https://hooks.example.com/x", "url: hooks.example.com/x"),
     "15 webhooks.0.url: must start with http:// or https://"),
    ("sql-url", ("min_rows: 200", "source: {type: sql, url: 'not a url', table: t}"),
     "9 monitors.0.source.url: not a SQLAlchemy URL such as postgresql+psycopg://user:${PGPASSWORD}@host/database"),
    # durations (our own parser, our own words)
    ("duration", ("last: 1h", "last: 1hour"), "8 monitors.0.window.last: '1hour' is not a duration like 30s, 15m, 1h or 7d"),
]


def _text(case: str, change: tuple[str, str] | None) -> str:
    if case == "file-not-mapping":
        return "- monitors\n"
    if case == "alpha-on-distance-evidently":
        return GOOD.replace("min_rows: 200", "compat: evidently").replace("threshold: 0.2", "threshold: 0.2, alpha: 0.1")
    if case == "literal":
        return GOOD.replace("min_rows: 200", "alerts: [{name: a, when: drift}]")
    assert change is not None and change[0] in GOOD, change
    return GOOD.replace(*change)


EXPECTED_EXTRA = {
    "alpha-on-distance-evidently": "12 monitors.0.features.plan.alpha: psi is a distance: under compat evidently it "
                                   "takes threshold, not alpha (did you mean 'threshold'?)",
    "literal": "9 monitors.0.alerts.0.when: 'drift' is not one of: dataset_drift, feature_drift, performance_below, "
               "performance_drop, concept_drift, multivariate_drift, segment_drift, performance_estimated_below",
}


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_error_type_in_driftlines_words(tmp_path: Path, case: str, change: tuple[str, str] | None,
                                             expected: str | None) -> None:
    errors = _errors(tmp_path, _text(case, change))
    assert (expected or EXPECTED_EXTRA[case]) in errors, errors
    assert not [e for e in errors if any(p in e for p in PYDANTIC)]


def test_a_distance_takes_alpha_under_the_calibrated_rule(tmp_path: Path) -> None:
    """``alpha`` on a distance is the calibrated rule's null level: accepted there, refused under evidently."""
    path = tmp_path / "driftline.yaml"
    path.write_text(GOOD.replace("threshold: 0.2", "threshold: 0.2, alpha: 0.1"))
    assert load_config(path).monitors[0].features["plan"].alpha == 0.1


def test_every_error_of_a_file_at_once_each_at_its_line(tmp_path: Path) -> None:
    text = (GOOD.replace("alpha: 0.01", "alpah: 0.01").replace("min_rows: 200", "min_rows: lots")
            .replace("window: {last: 1h}", "window: 1h").replace("method: psi", "method: psii"))
    assert _errors(tmp_path, text) == [
        "8 monitors.0.window: expected a mapping like {last: 1h} or {rows: 10000}, got '1h'",
        "9 monitors.0.min_rows: expected a whole number, got 'lots'",
        "11 monitors.0.features.age.alpah: unknown key 'alpah' (did you mean 'alpha'?)",
        "12 monitors.0.features.plan.method: 'psii' is not a method; use one of: ks, cramer_von_mises, anderson, t_test, "
        "mann_whitney, epps_singleton, chi_square, z_test, fisher_exact, g_test, kuiper, wasserstein, energy_distance, "
        "psi, jensen_shannon, kl_div, hellinger, tvd, l_infinity, text_domain_classifier, text_length, oov_share, "
        "non_letter_share, embedding_mmd, embedding_classifier (did you mean 'psi'?)",
    ]


def test_a_feature_named_like_a_method_keeps_its_name_in_the_path(tmp_path: Path) -> None:
    """Union tags are dropped from locations by following the models, not by guessing names."""
    text = GOOD.replace("numerical: [age, income]", "numerical: [ks, income]").replace("age: {method: ks, alpha: 0.01}",
                                                                                        "ks: {method: ks, alpah: 0.01}")
    assert _errors(tmp_path, text) == ["11 monitors.0.features.ks.alpah: unknown key 'alpah' (did you mean 'alpha'?)"]


# --- the sweep ---------------------------------------------------------------------------------

BAD_VALUES: list[Any] = ["zz", -1, None, [1], {"k": 1}]


def _annotated_example() -> tuple[Any, dict[tuple[Any, ...], int]]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if b.startswith("# driftline.yaml: every"))
    lines: dict[tuple[Any, ...], int] = {}
    return plain(yaml.compose(block, Loader=yaml.SafeLoader), "docs", lines), lines


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``data`` (only the containers on ``path`` copied) with ``value`` at ``path``."""
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _set(data[path[0]] if path[0] in (data if isinstance(data, dict) else range(len(data))) else {},
                         path[1:], value)
    return copy


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def test_no_broken_file_gets_pydantics_wording() -> None:
    """Every value and mapping of the annotated example broken; the loader's translation checked on each.

    The file is composed once: a broken value keeps its path, so its line is the example's own.
    """
    base, lines = _annotated_example()
    DriftlineConfig.model_validate(base, context={"env": {}})  # the example itself is valid
    variants = [_set(base, p, v) for p in _paths(base) for v in BAD_VALUES]
    variants += [_set(base, (*p, "zzz_unknown"), 1) for p in _paths(base) if isinstance(_get(base, p), dict)]
    assert len(variants) > 900  # the sweep covers the whole annotated example
    refused = 0
    for data in variants:
        try:
            DriftlineConfig.model_validate(data, context={"env": {}})
        except ValidationError as exc:
            refused += 1
            for line in format_errors(exc, DriftlineConfig, "driftline.yaml", lines):
                assert re.match(r"driftline\.yaml:\d+ \S", line), line
                assert not any(p in line for p in PYDANTIC), line
    assert refused > 0.9 * len(variants)  # most breakages are refused (a few are valid: -1 for a floor, null for a default)


def test_errors_come_in_the_files_order(tmp_path: Path) -> None:
    """pydantic reports by field order (correction before features); a user reads the file top down."""
    text = GOOD.replace("alpha: 0.01", "alpah: 0.01").replace(
        "      plan: {method: psi, threshold: 0.2}\n", "      plan: {method: psi, threshold: 0.2}\n    correction: holmes\n")
    assert [e.split(" ")[0] for e in _errors(tmp_path, text)] == ["11", "13"]


DOCS_FILE = """\
monitors:
  - name: churn
    model: churn-v3
    schema:
      numerical: [age, income]
      categorical: [plan]
    every: 15m
    window: {last: 1hour}
    features:
      age: {method: ks, alpah: 0.01}
      plan: {method: psi, threshold: -0.2}
      income: {method: wasserstien}
    correction: holmes
    source:
      type: sql
      url: postgresql+psycopg://reader:${PGPASSWORD}@warehouse.internal/analytics
      table: predictions
"""


def test_the_validation_example_of_the_docs_is_what_check_config_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\n\$ driftline check-config driftline.yaml\n(.*?)```", docs, re.DOTALL)
    assert shown
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    Path("driftline.yaml").write_text(DOCS_FILE)
    assert main(["check-config", "driftline.yaml"]) == 2
    assert capsys.readouterr().err == shown[1]
