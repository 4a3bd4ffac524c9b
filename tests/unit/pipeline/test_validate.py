from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidArgumentsError
from gateway.models import CallContext, Principal, ToolRef
from gateway.pipeline import Call
from gateway.pipeline.validate import Validate

SCHEMA = {
    "type": "object",
    "properties": {"account_id": {"type": "string"}, "amount_cents": {"type": "integer", "minimum": 1}},
    "required": ["account_id", "amount_cents"],
    "additionalProperties": False,
}
TOOL = types.Tool(name="transfer", input_schema=SCHEMA)


def make_call(arguments: dict[str, Any]) -> Call:
    context = CallContext(Principal("p"), "bank__transfer", arguments, "wf", None, "c1")

    async def no_links(name: str) -> Any:
        raise AssertionError("validation must not reach an upstream")

    return Call(context=context, links=no_links, tool=ToolRef("bank", "transfer"), definition=TOOL)


async def forwarded(call: Call) -> dict[str, Any]:
    return {"content": [], "forwarded": True}


def run(arguments: dict[str, Any]) -> dict[str, Any]:
    return anyio.run(Validate(), make_call(arguments), forwarded)


def test_valid_arguments_proceed() -> None:
    assert run({"account_id": "acc_1", "amount_cents": 5})["forwarded"] is True


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"account_id": "a", "amount_cents": "5"}, "amount_cents"),
        ({"account_id": "a", "amount_cents": 0}, "amount_cents"),
        ({"account_id": 7, "amount_cents": 5}, "account_id"),
        ({"account_id": "a"}, "(arguments)"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgumentsError) as refused:
        run(arguments)
    assert refused.value.data["field"] == field
    assert field in refused.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_arbitrary_arguments_either_validate_or_raise_a_named_error(arguments: dict[str, Any]) -> None:
    try:
        result = run(arguments)
    except InvalidArgumentsError as refused:
        assert refused.message.startswith("invalid arguments for tool 'bank__transfer'")
    else:
        assert result["forwarded"] is True
        assert isinstance(arguments["account_id"], str) and arguments["amount_cents"] >= 1
