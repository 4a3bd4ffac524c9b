from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import TemplateError
from gateway.manifests.templates import check_template_roots, render


def test_a_whole_placeholder_keeps_the_value_type() -> None:
    data = {"args": {"amount": 5, "ids": [1, 2]}, "result": {"id": "trf_1"}}
    assert render("{args.amount}", data) == 5
    assert render({"ids": "{args.ids}", "ref": "transfer {result.id}"}, data) == {
        "ids": [1, 2],
        "ref": "transfer trf_1",
    }
    assert render(["{args.ids.1}"], data) == [2]


def test_a_missing_path_is_a_clear_call_time_error() -> None:
    with pytest.raises(TemplateError, match=r"\{result.id\} is missing"):
        render("{result.id}", {"args": {}})


def test_a_placeholder_outside_its_roots_is_a_load_time_error() -> None:
    with pytest.raises(ValueError, match="must start with one of"):
        check_template_roots({"x": "{snapshot.balance}"}, {"args"})


def test_templates_never_execute_code() -> None:
    data = {"args": {"a": 1}}
    assert render("{__import__('os').system('true')}", data) == "{__import__('os').system('true')}"
    with pytest.raises(TemplateError):
        render("{args.__class__}", data)


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True), st.integers(), max_size=4))
def test_rendering_an_argument_path_returns_that_argument(arguments: dict[str, int]) -> None:
    for key, value in arguments.items():
        assert render(f"{{args.{key}}}", {"args": arguments}) == value
