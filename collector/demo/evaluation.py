"""The refund incident as a regression test, in the demo (docs/evaluation.md): the dataset
``refund-regressions`` holds the incident's order (88123, order line $49.50, refunded 4950 by
refund-bot 2.3.0 on prompt v7) with three healthy refunds, and two experiments ran refund-bot on
it — prompt v6 (2.2.5), which passes, and prompt v7 (2.3.0), which fails "amount equals the order
line price" on every item. The Compare page shows the regression; ``flightlog eval run`` with
``--min-score amount_equals_order_line_price=1`` is the CI gate that would have stopped v7.

The outputs are what each prompt version does to an order (v7 writes cents); the scores are
computed by the real evaluators and stored through the real API.
"""

from __future__ import annotations

from typing import Any

from flightlog.evaluators import EvalCase, EvalResult, Evaluator, exact

from flightlog.collector.demo.control import _call
from flightlog.collector.demo.scenario import (
    INCIDENT_AGENT,
    INCIDENT_AGENT_VERSION,
    INCIDENT_ORDER_ID,
    INCIDENT_PROMPT_VERSION,
    INCIDENT_TRACE_ID,
)

DATASET = "refund-regressions"
AMOUNT_EVALUATOR = "amount_equals_order_line_price"
ORDERS = [  # (order id, order line price, reason, metadata)
    (INCIDENT_ORDER_ID, 49.50, "damaged_item",
     {"incident": "refund-bot 2.3.0, prompt v7: refunded 4950 instead of 49.50", "trace_id": INCIDENT_TRACE_ID}),
    ("41207", 23.90, "not_delivered", {}),
    ("55310", 129.00, "wrong_size", {}),
    ("60218", 8.75, "damaged_item", {}),
]
RUNS = [("refund-bot 2.2.5 on prompt v6", "2.2.5", "v6"),
        ("refund-bot 2.3.0 on prompt v7", INCIDENT_AGENT_VERSION, INCIDENT_PROMPT_VERSION)]


def refund(order: dict[str, Any], prompt_version: str) -> dict[str, Any]:
    """What refund-bot decides for an order: v7 wrote the amount in cents."""
    price = float(order["order_line_price"])
    amount = round(price * 100) if prompt_version == INCIDENT_PROMPT_VERSION else price
    return {"order_id": order["order_id"], "amount": amount, "currency": "USD"}


def _amount_equals_order_line_price(case: EvalCase) -> EvalResult:
    price = float(case.input["order_line_price"])
    amount = case.output.get("amount") if isinstance(case.output, dict) else None
    ok = isinstance(amount, (int, float)) and abs(amount - price) < 0.005
    return EvalResult(AMOUNT_EVALUATOR, 1.0 if ok else 0.0, "pass" if ok else "fail",
                      "" if ok else f"refunded {amount} for an order line of {price:.2f}")


AMOUNT_EQUALS_ORDER_LINE_PRICE = Evaluator(AMOUNT_EVALUATOR, _amount_equals_order_line_price)


def seed_evaluation(base_url: str, admin_key: str) -> dict[str, Any]:
    """Create the dataset and the two experiments, once (a second run finds the dataset)."""
    if any(d["name"] == DATASET for d in _call(base_url, admin_key, "GET", "/api/datasets")["datasets"]):
        return {"dataset": DATASET, "experiments": []}
    _call(base_url, admin_key, "POST", "/api/datasets", {
        "name": DATASET, "description": "Refund amounts: the cents incident (order 88123) and healthy refunds"})
    # (keyword dicts: the API's field names, not span attribute keys)
    notes = [{"order_line_price": price, **meta} for _, price, _, meta in ORDERS]
    items: list[dict[str, Any]] = [dict(input={"order_id": order_id, "order_line_price": price, "reason": reason},
                  expected={"order_id": order_id, "amount": price, "currency": "USD"}, metadata=note,
                  **({"source_trace_id": INCIDENT_TRACE_ID} if order_id == INCIDENT_ORDER_ID else {}))
             for (order_id, price, reason, _), note in zip(ORDERS, notes, strict=True)]
    ids = _call(base_url, admin_key, "POST", f"/api/datasets/{DATASET}/items", {"items": items})["item_ids"]
    evaluators = [AMOUNT_EQUALS_ORDER_LINE_PRICE, exact()]
    made = []
    for name, agent_version, prompt_version in RUNS:
        experiment = _call(base_url, admin_key, "POST", "/api/experiments",
                           dict(name=name, dataset=DATASET, task="refund_bot:run", metadata={"demo": True}))
        results = []
        for item_id, item, note in zip(ids, items, notes, strict=True):
            output = refund(item["input"], prompt_version)
            case = EvalCase(input=item["input"], output=output, expected=item["expected"], has_expected=True,
                            metadata=note)
            results.append({"item_id": item_id, "output": output, "latency_ms": 1840.0, "tokens": 912,
                            "agent_name": INCIDENT_AGENT, "agent_version": agent_version,
                            "prompt_version": prompt_version, "model": "gpt-4o",
                            "scores": [e(case).to_dict() for e in evaluators]})
        _call(base_url, admin_key, "POST", f"/api/experiments/{experiment['id']}/results", {"results": results})
        made.append(_call(base_url, admin_key, "POST", f"/api/experiments/{experiment['id']}/finish", {})["id"])
    return {"dataset": DATASET, "experiments": made}
