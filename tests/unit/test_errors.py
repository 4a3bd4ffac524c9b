"""gateway/errors.py: the one tree of Rollgate's exceptions, and the JSON-RPC codes they map to."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import mcp_types
import pytest

import gateway
from gateway import errors


def test_the_json_rpc_codes_are_the_sdks() -> None:
    # errors.py spells them to keep mcp_types out of every CLI command's start-up.
    assert errors.INVALID_PARAMS == mcp_types.INVALID_PARAMS
    assert errors.INTERNAL_ERROR == mcp_types.INTERNAL_ERROR


def _modules() -> list[str]:
    # gateway.__main__ runs the command line when imported.
    return [
        info.name for info in pkgutil.walk_packages(gateway.__path__, "gateway.") if info.name != "gateway.__main__"
    ]


def _defined_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_every_exception_of_the_gateway_is_defined_in_errors_py() -> None:
    elsewhere = sorted(name for name in _defined_exceptions() if not name.startswith("gateway.errors."))
    assert elsewhere == []


@pytest.mark.parametrize("name", sorted(n for n, v in vars(errors).items() if inspect.isclass(v)))
def test_each_is_a_rollgate_error_and_drawn_in_the_tree(name: str) -> None:
    value = getattr(errors, name)
    assert issubclass(value, errors.RollgateError)
    drawn = {line.split("── ")[1].split()[0] for line in (errors.__doc__ or "").splitlines() if "── " in line}
    assert name == "RollgateError" or name in drawn
