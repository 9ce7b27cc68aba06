"""Tasks and evaluators the evaluation tests run (``flightlog eval run --task support.eval_tasks:…``).

``refund_bot`` is the demo incident in small: the prompt version in the item's input decides how
the amount is written — v6 in euros (49.50), v7 in cents (4950). Each call makes a real LLM span
and a real tool span through the SDK, so the evaluators that read the run (tool_called,
max_tokens) have something to read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import flightlog
from flightlog.evaluators import EvalCase


@flightlog.tool_call
def issue_refund(order_id: str, amount: float) -> dict[str, Any]:
    return {"refunded": amount, "order_id": order_id}


def refund_bot(item: dict[str, Any]) -> dict[str, Any]:
    version = item.get("prompt_version", "v6")
    with flightlog.agent_run("refund-bot", version="2.3.0" if version == "v7" else "2.2.0"):
        with flightlog.llm_call("gpt-4o-mini", provider="openai", prompt_id="refund-policy", prompt_version=version,
                                messages=[{"role": "user", "content": f"refund order {item['order_id']}"}]) as call:
            amount = round(item["price"] * 100) if version == "v7" else item["price"]
            call.set_output(f"issue_refund({item['order_id']}, {amount})")
            call.set_usage(input_tokens=40, output_tokens=10)
        issue_refund(item["order_id"], amount)
    return {"order_id": item["order_id"], "amount": amount}


async def async_echo(value: Any) -> Any:
    await asyncio.sleep(0)
    return value


def broken(item: Any) -> Any:
    raise RuntimeError(f"cannot handle {item!r}")


def amount_is_a_price(case: EvalCase) -> bool:
    """A custom evaluator: the refunded amount looks like a price (under 1000)."""
    output = case.output if isinstance(case.output, dict) else {}
    return isinstance(output.get("amount"), (int, float)) and output["amount"] < 1000


def refund_bot_v7(item: dict[str, Any]) -> dict[str, Any]:
    """The same agent on prompt v7 (amounts in cents), whatever the item says."""
    return refund_bot({**item, "prompt_version": "v7"})


def demo_refund_v6(order: dict[str, Any]) -> dict[str, Any]:
    """The demo's refund-bot on prompt v6 (collector/demo/evaluation.py)."""
    from flightlog.collector.demo.evaluation import refund

    return refund(order, "v6")


def demo_refund_v7(order: dict[str, Any]) -> dict[str, Any]:
    """The demo's refund-bot on prompt v7: amounts in cents."""
    from flightlog.collector.demo.evaluation import refund

    return refund(order, "v7")
