"""Capability gates: which tools a client of given capabilities is offered."""

from __future__ import annotations

import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.upstream.gates import ALL, CAPABILITIES, Capability, Gate, advertised, declared, gates_of, probe_gates

pytestmark = pytest.mark.anyio

capability_sets = st.frozensets(st.sampled_from(CAPABILITIES))


def test_a_tool_listed_to_a_bare_client_has_no_gate() -> None:
    assert gates_of({"echo", "roots"}, {"echo", "roots"}, {}) == {}


def test_a_tool_listed_to_one_capability_alone_needs_that_one() -> None:
    gates = gates_of({"echo", "ask"}, {"echo"}, {"roots": set(), "sampling": set(), "elicitation": {"ask"}})
    assert gates == {"ask": Gate((frozenset({"elicitation"}),))}
    assert gates["ask"].admits(frozenset({"elicitation"})) and not gates["ask"].admits(frozenset({"sampling"}))


def test_a_tool_listed_to_either_of_two_capabilities_needs_either() -> None:
    gate = gates_of({"x"}, set(), {"roots": {"x"}, "sampling": {"x"}, "elicitation": set()})["x"]
    assert gate.admits(frozenset({"roots"})) and gate.admits(frozenset({"sampling"}))
    assert not gate.admits(frozenset({"elicitation"}))


def test_a_tool_listed_to_no_single_capability_needs_all_of_them() -> None:
    gate = gates_of({"x"}, set(), {"roots": set(), "sampling": set(), "elicitation": set()})["x"]
    assert gate == Gate((ALL,))
    assert gate.admits(ALL) and not gate.admits(frozenset({"roots", "sampling"}))


@given(capability_sets, capability_sets)
def test_a_gate_admits_every_superset_of_what_it_admits(
    needed: frozenset[Capability], more: frozenset[Capability]
) -> None:
    gate = Gate((needed,))
    assert gate.admits(needed) and gate.admits(needed | more)


def test_declared_reads_the_three_capabilities_of_a_client() -> None:
    caps = types.ClientCapabilities(sampling=types.SamplingCapability(), roots=types.RootsCapability())
    assert declared(caps) == frozenset({"sampling", "roots"})
    assert declared(None) == frozenset() and declared(types.ClientCapabilities()) == frozenset()


@given(capability_sets)
def test_advertised_capabilities_are_read_back_as_declared(capabilities: frozenset[Capability]) -> None:
    assert declared(types.ClientCapabilities.model_validate(advertised(capabilities))) == capabilities


async def test_probing_stops_after_the_bare_listing_when_nothing_is_missing() -> None:
    asked: list[frozenset[Capability]] = []

    async def list_with(capabilities: frozenset[Capability]) -> set[str]:
        asked.append(capabilities)
        return {"echo"}

    assert await probe_gates({"echo"}, list_with) == {}
    assert asked == [frozenset()]


async def test_probing_tries_each_capability_alone_when_the_bare_listing_lacks_tools() -> None:
    async def list_with(capabilities: frozenset[Capability]) -> set[str]:
        return {"echo"} | ({"sample"} if "sampling" in capabilities else set())

    gates = await probe_gates({"echo", "sample"}, list_with)
    assert gates == {"sample": Gate((frozenset({"sampling"}),))}


async def test_a_tool_the_probe_does_not_see_even_with_every_capability_stays_ungated() -> None:
    """A tool added at run time to the upstream process the probe did not talk to."""

    async def list_with(capabilities: frozenset[Capability]) -> set[str]:
        return {"echo"}

    assert await probe_gates({"echo", "added_later"}, list_with) == {}
