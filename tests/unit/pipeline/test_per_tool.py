"""A value worked out once per tool definition object, again for a new one."""

from __future__ import annotations

import mcp_types as types

from gateway.pipeline.per_tool import PerTool


def test_the_same_definition_is_worked_out_once_and_a_replaced_one_again() -> None:
    seen: list[str] = []

    def compute(tool: types.Tool) -> str:
        seen.append(tool.name)
        return tool.name.upper()

    per_tool = PerTool(compute)
    first = types.Tool(name="a", input_schema={"type": "object"})
    assert per_tool(first) == "A" and per_tool(first) == "A"
    replaced = types.Tool(name="b", input_schema={"type": "object"})
    assert per_tool(replaced) == "B"
    assert seen == ["a", "b"]
