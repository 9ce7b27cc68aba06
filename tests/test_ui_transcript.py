"""Tests for flightlog.ui.transcript: chat transcripts and tree collapsing."""

from __future__ import annotations

import json

import pytest

from flightlog.ui.transcript import chat_messages, chat_role, visible_spans


@pytest.mark.parametrize(
    "attrs,expected",
    [
        ({"gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi <b>"}]}]),
          "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
              {"type": "tool_call", "name": "issue_refund", "arguments": {"amount": 4950}}]}])},
         [("user", "hi <b>"), ("assistant", '→ tool call issue_refund({"amount": 4950})')]),
        ({"gen_ai.input.messages": [{"role": "tool", "parts": [{"type": "tool_call_response", "response": "ok"}]}]},
         [("tool", "← tool result: ok")]),
        ({"llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "second",
          "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "first",
          "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "answer"},
         [("system", "first"), ("user", "second"), ("assistant", "answer")]),
        ({"gen_ai.input.messages": "not json"}, []),
        ({}, []),
    ],
)
def test_chat_messages_reads_genai_and_openinference_shapes(attrs, expected) -> None:
    assert chat_messages({"span_attributes": attrs}) == expected


@pytest.mark.parametrize("role,avatar", [("user", "user"), ("assistant", "assistant"), ("tool", "ai"),
                                         ("system", "ai"), ("other", "user")])
def test_chat_role(role, avatar) -> None:
    assert chat_role(role) == avatar


SPANS = [{"span_id": "a", "depth": 0}, {"span_id": "b", "depth": 1}, {"span_id": "c", "depth": 2},
         {"span_id": "d", "depth": 1}, {"span_id": "e", "depth": 2}]


@pytest.mark.parametrize(
    "collapsed,max_depth,expected",
    [(set(), None, [0, 1, 2, 3, 4]), ({"b"}, None, [0, 1, 3, 4]), ({"a"}, None, [0]),
     (set(), 1, [0, 1, 3]), ({"d"}, 1, [0, 1, 3]), ({"b", "d"}, None, [0, 1, 3])],
)
def test_visible_spans_folds_subtrees_and_depth(collapsed, max_depth, expected) -> None:
    assert visible_spans(SPANS, collapsed, max_depth) == expected
