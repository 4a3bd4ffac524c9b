# Tests of the default policy (OPA's convention: rules named test_*). Run: rollgate policy test
package rollgate.policy_test

import rego.v1

import data.rollgate.policy

base := {
	"version": "rollgate.policy/v1",
	"principal": {"id": "agent", "roles": ["agent"]},
	"workflow": {"id": "wf", "status": "active", "steps": 0, "mutations": 0, "budget": {}},
	"tool": {
		"name": "demo__transfer", "server": "demo", "upstream_name": "transfer", "qualified": "demo/transfer",
		"manifest": {"reversibility": "compensable", "impact": "high"}, "manifest_source": "manifest", "annotations": {},
	},
	"arguments": {},
	"call": {"correlation_id": "c", "step": null, "meta": {}, "confidence": null, "idempotency_key": null},
	"compensation": false,
	"time": {"now": "2026-11-24T00:00:00Z", "unix": 0, "weekday": 1, "hour": 0},
}

with_manifest(reversibility, impact) := object.union(base, {"tool": object.union(base.tool, {"manifest": {"reversibility": reversibility, "impact": impact}})})

test_read_only_calls_are_allowed if {
	policy.decision.effect == "allow" with input as with_manifest("read_only", "critical")
}

test_compensable_high_needs_one_approver if {
	d := policy.decision with input as with_manifest("compensable", "high")
	d.effect == "require_approval"
	d.approvers == [{"role": "approver", "count": 1}]
}

test_compensable_critical_needs_two_of_treasury if {
	d := policy.decision with input as with_manifest("compensable", "critical")
	d.approvers == [{"role": "treasury", "count": 2}]
}

test_irreversible_critical_is_denied if {
	policy.decision.effect == "deny" with input as with_manifest("irreversible", "critical")
}

test_reversible_low_is_allowed if {
	policy.decision.effect == "allow" with input as with_manifest("reversible", "low")
}

test_quarantined_workflows_are_denied if {
	quarantined := object.union(with_manifest("reversible", "low"), {"workflow": object.union(base.workflow, {"status": "quarantined"})})
	d := policy.decision with input as quarantined
	d.effect == "deny"
	contains(d.reasons[0], "quarantined")
}

test_compensations_of_a_quarantined_workflow_are_allowed if {
	compensating := object.union(with_manifest("compensable", "high"), {"compensation": true, "workflow": object.union(base.workflow, {"status": "quarantined"})})
	policy.decision.effect == "allow" with input as compensating
}

with_signals(reversibility, signals) := object.union(with_manifest(reversibility, "low"), {"signals": signals})

spent_budget := {"budget": {
	"tripped": true,
	"reason": "workflow wf would move 12000 amount_cents, over its budget of 10000 (spent 9000)",
	"figures": [{
		"budget": "amount_cents", "scope": "workflow", "key": "wf", "spent": 9000, "amount": 12000,
		"limit": 10000, "exceeded": true,
		"message": "workflow wf would move 12000 amount_cents, over its budget of 10000 (spent 9000)",
	}],
}}

test_an_exhausted_budget_denies_with_its_figures if {
	d := policy.decision with input as with_signals("reversible", spent_budget)
	d.effect == "deny"
	d.reasons == ["workflow wf would move 12000 amount_cents, over its budget of 10000 (spent 9000)"]
}

test_a_budget_within_its_limit_does_not_deny if {
	within := {"budget": {"tripped": false, "figures": [{
		"budget": "mutations", "scope": "workflow", "key": "wf", "spent": 3, "amount": 1, "limit": 200, "exceeded": false,
	}]}}
	policy.decision.effect == "allow" with input as with_signals("reversible", within)
}

looping := {"loop": {
	"tripped": true, "kind": "same_call", "same_call": 5, "same_tool": 5, "same_call_limit": 5,
	"same_tool_limit": 60, "window_seconds": 60, "quarantine": true,
	"reason": "workflow wf looks like a runaway loop",
}}

test_a_tripped_loop_denies_and_quarantines_its_workflow if {
	d := policy.decision with input as with_signals("read_only", looping)
	d.effect == "deny"
	d.reasons == ["workflow wf looks like a runaway loop"]
	d.obligations.quarantine == true
}

test_a_tripped_loop_does_not_quarantine_when_configured_not_to if {
	d := policy.decision with input as with_signals("reversible", {"loop": object.union(looping.loop, {"quarantine": false})})
	d.effect == "deny"
	not d.obligations.quarantine
}

test_a_loop_in_a_workflow_already_quarantined_asks_for_no_second_quarantine if {
	held := object.union(with_signals("reversible", looping), {"workflow": object.union(base.workflow, {"status": "quarantined"})})
	not policy.decision.obligations.quarantine with input as held
}

test_a_rate_limited_call_is_denied_with_the_guards_reason if {
	limited := {"rate": {"tripped": true, "bucket": "principal", "rate": 50, "burst": 200, "retry_after": 0.02, "reason": "rate limit: slow down"}}
	d := policy.decision with input as with_signals("read_only", limited)
	d.effect == "deny"
	d.reasons == ["rate limit: slow down"]
}

test_compensations_are_never_stopped_by_a_guard if {
	compensating := object.union(with_signals("compensable", object.union(looping, spent_budget)), {"compensation": true})
	d := policy.decision with input as compensating
	d.effect == "allow"
	not d.obligations.quarantine
}

test_signals_that_did_not_trip_change_nothing if {
	calm := {"rate": {"tripped": false}, "loop": object.union(looping.loop, {"tripped": false}), "budget": {"tripped": false}}
	policy.decision.effect == "allow" with input as with_signals("reversible", calm)
}

test_low_confidence_turns_an_allow_into_an_approval if {
	unsure := object.union(with_manifest("reversible", "low"), {"call": object.union(base.call, {"confidence": 0.3})})
	policy.decision.effect == "require_approval" with input as unsure
}

test_very_low_confidence_denies if {
	unsure := object.union(with_manifest("reversible", "low"), {"call": object.union(base.call, {"confidence": 0.1})})
	policy.decision.effect == "deny" with input as unsure
}

test_matrix_cells_come_from_data if {
	policy.decision.effect == "deny" with input as with_manifest("reversible", "low")
		with data.rollgate.matrix.reversible.low as {"effect": "deny"}
}

test_a_snapshot_in_the_manifest_is_an_obligation if {
	snap := object.union(base, {"tool": object.union(base.tool, {"manifest": {"reversibility": "compensable", "impact": "low", "snapshot": {"tool": "get_account"}}})})
	policy.decision.obligations.snapshot_required with input as snap
}

test_the_quarantine_reason_is_given if {
	held := object.union(with_manifest("reversible", "low"), {"workflow": object.union(base.workflow, {"status": "quarantined", "status_reason": "fraud check"})})
	d := policy.decision with input as held
	contains(d.reasons[0], "quarantined: fraud check")
}

test_an_approved_call_is_allowed_at_execution if {
	approved := object.union(with_manifest("compensable", "high"), {"approval": {"id": "apr_1", "approvers": ["alice"], "granted": true}})
	policy.decision.effect == "allow" with input as approved
}

test_an_approved_call_is_denied_once_its_workflow_is_quarantined if {
	held := with_manifest("compensable", "high")
	approved := object.union(held, {
		"approval": {"id": "apr_1", "approvers": ["alice"], "granted": true},
		"workflow": object.union(held.workflow, {"status": "quarantined"}),
	})
	policy.decision.effect == "deny" with input as approved
}

test_a_quarantined_principal_is_refused_in_any_workflow if {
	quarantined := object.union(with_manifest("read_only", "low"), {"principal": {"id": "agent", "roles": [], "quarantined": true}})
	policy.decision.effect == "deny" with input as quarantined
}

test_a_new_workflow_id_does_not_escape_a_quarantine if {
	escaping := object.union(with_manifest("reversible", "low"), {"principal": {"id": "agent", "roles": [], "quarantined_workflows": ["wf_old"]}})
	policy.decision.effect == "deny" with input as escaping
}

test_secret_names_are_masked_at_any_depth if {
	mask := policy.decision.obligations.mask with input as with_manifest("read_only", "low")
	"args.**.password" in mask
	"result.**.api_key" in mask
}

changed_tool(manifest_input) := object.union(manifest_input, {"tool": object.union(manifest_input.tool, {"definition_changed": true})})

test_a_tool_whose_definition_changed_is_denied_even_read_only if {
	d := policy.decision with input as changed_tool(with_manifest("read_only", "low"))
	d.effect == "deny"
	contains(d.reasons[0], "definition of tool demo/transfer changed")
	contains(d.reasons[0], "rollgate tools accept demo/transfer")
}

test_a_compensation_of_a_tool_whose_definition_changed_still_runs if {
	changed := changed_tool(with_manifest("compensable", "high"))
	policy.decision.effect == "allow" with input as object.union(changed, {"compensation": true})
}

with_breaker(breaker) := object.union(with_manifest("read_only", "low"), {"signals": {"breaker": breaker}})

test_an_open_upstream_breaker_denies_and_names_it if {
	d := policy.decision with input as with_breaker({"tripped": true, "scope": "upstream", "name": "demo", "state": "open", "failures": 5, "retry_after": 12.5})
	d.effect == "deny"
	contains(d.reasons[0], "upstream demo is open after 5 consecutive failures")
	contains(d.reasons[0], "12.5 s")
}

test_a_half_open_tool_breaker_denies_while_its_probe_runs if {
	d := policy.decision with input as with_breaker({"tripped": true, "scope": "tool", "name": "demo/transfer", "state": "half_open", "failures": 10, "retry_after": 1})
	d.effect == "deny"
	contains(d.reasons[0], "tool demo/transfer")
}

test_an_open_breaker_denies_compensations_too if {
	compensating := object.union(with_breaker({"tripped": true, "scope": "upstream", "name": "demo", "state": "open", "failures": 5, "retry_after": 3}), {"compensation": true})
	policy.decision.effect == "deny" with input as compensating
}

test_a_closed_breaker_changes_nothing if {
	policy.decision.effect == "allow" with input as with_breaker({"tripped": false, "scope": "upstream", "name": "demo", "state": "closed", "failures": 2})
}
