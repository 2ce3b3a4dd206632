"""Alerting: in-service rules, the webhook outbox's delivery, the Alertmanager receiver, retraining.

The nouns (``AlertRule``, ``AlertEvent``, ``OutboxMessage``, ``RetrainJob`` ...) are the domain's
(``monitor.domain``); this package holds what acts on them.
"""

from alerts.alertmanager import AlertmanagerPayload
from alerts.delivery import Deliverer, backoff_delay
from alerts.retrain import decide
from alerts.rules import condition_holds, evaluate_rules, firing
from alerts.service import AlertService, AlertStore
from alerts.signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "AlertService",
    "AlertStore",
    "AlertmanagerPayload",
    "Deliverer",
    "backoff_delay",
    "condition_holds",
    "decide",
    "evaluate_rules",
    "firing",
    "sign",
    "verify",
]
