"""Results shaped for the downstream revision: filled, never emptied."""

from __future__ import annotations

from mcp_types.methods import serialize_server_result

from gateway.server.revisions import for_revision

CONTENTS = [{"uri": "a://b", "text": "x"}]


def test_a_handshake_era_read_gets_the_fields_2026_requires_and_keeps_its_contents() -> None:
    shaped = for_revision("resources/read", "2026-07-28", {"contents": CONTENTS})
    assert shaped == {"contents": CONTENTS, "resultType": "complete", "ttlMs": 0, "cacheScope": "private"}
    assert serialize_server_result("resources/read", "2026-07-28", shaped)["contents"] == CONTENTS


def test_the_upstreams_own_caching_fields_are_passed_on() -> None:
    given = {"contents": CONTENTS, "resultType": "complete", "ttlMs": 5000, "cacheScope": "public"}
    assert for_revision("resources/read", "2026-07-28", given) == given


def test_every_cacheable_method_is_filled_and_the_others_get_only_a_result_type() -> None:
    for method, body in [
        ("resources/templates/list", {"resourceTemplates": []}),
        ("prompts/list", {"prompts": []}),
        ("resources/list", {"resources": []}),
        ("tools/list", {"tools": []}),
    ]:
        assert serialize_server_result(method, "2026-07-28", for_revision(method, "2026-07-28", body))["ttlMs"] == 0
    prompt = for_revision("prompts/get", "2026-07-28", {"messages": []})
    assert prompt == {"messages": [], "resultType": "complete"}


def test_an_input_required_result_gets_no_caching_fields() -> None:
    asked = {"resultType": "input_required", "requestState": "s"}
    assert for_revision("resources/read", "2026-07-28", asked) == asked


def test_results_for_handshake_era_clients_are_left_as_they_came() -> None:
    given = {"contents": CONTENTS}
    assert for_revision("resources/read", "2025-11-25", given) == given
    assert for_revision("resources/read", None, given) == given
