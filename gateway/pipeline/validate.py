"""Stage 2: enforce the upstream's `inputSchema` before anything is forwarded.

A call whose arguments do not validate is answered with an MCP error naming the offending field
and never reaches the upstream. Validators are compiled once per tool definition.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, best_match

from gateway.errors import InvalidArgumentsError
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.per_tool import PerTool


class Validate:
    def __init__(self) -> None:
        self._validator = PerTool(_compile)

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        assert call.definition is not None
        validator = self._validator(call.definition)
        arguments = call.context.arguments
        if validator is not None and not validator.is_valid(arguments):
            error = best_match(validator.iter_errors(arguments))
            if error is not None:
                field = "/".join(str(part) for part in error.absolute_path) or "(arguments)"
                raise InvalidArgumentsError(
                    f"invalid arguments for tool {call.context.requested_name!r}: {field}: {error.message}",
                    data={"field": field, "reason": error.message},
                )
        return await proceed(call)


def _compile(tool: types.Tool) -> Any:
    schema = tool.input_schema
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
        return cls(schema)
    except SchemaError:
        return None  # the upstream's schema is broken; it will judge its own input
