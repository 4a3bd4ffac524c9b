# Rollgate's default policy: the reversibility × impact matrix, with its cells in data.json.
#
# Input: the rollgate.policy/v1 document (README, "Policy input"). Output: data.rollgate.policy.decision,
# {effect, reasons, approvers, obligations, matched}. Teams change thresholds and cells in data.json;
# a rule here changes what the cells mean.
package rollgate.policy

import rego.v1

manifest := input.tool.manifest

# Settings from data.json (named one by one: data.rollgate also holds the policy's own rules).
matrix := data.rollgate.matrix

thresholds := data.rollgate.thresholds

masking := data.rollgate.masking

# -- hard denials, whatever the matrix says ------------------------------------------------------

deny contains reason if {
	input.workflow.status == "quarantined"
	not input.compensation
	reason := sprintf("workflow %s is quarantined%s; its calls are refused until an operator releases it", [input.workflow.id, quarantine_detail])
}

deny contains reason if {
	manifest.reversibility != "read_only"
	not input.compensation
	input.call.confidence != null
	input.call.confidence < thresholds.deny_below_confidence
	reason := sprintf("the agent's confidence %.2f is below %.2f for a mutating call", [input.call.confidence, thresholds.deny_below_confidence])
}

deny contains reason if {
	input.principal.quarantined
	not input.compensation
	reason := sprintf("agent %s is quarantined%s; its calls are refused until an operator releases it", [input.principal.id, principal_detail])
}

# A quarantine is not escaped by sending the next mutation under another workflow id.
deny contains reason if {
	data.rollgate.quarantine.contain_agent == true
	manifest.reversibility != "read_only"
	not input.compensation
	some held in object.get(input.principal, "quarantined_workflows", [])
	held != input.workflow.id
	reason := sprintf("agent %s owns quarantined workflow %s; its mutating calls are refused in every workflow until an operator releases it", [input.principal.id, held])
}

# -- usage guards: input.signals, measured before this policy by the guard stage -------------------
# (gateway/pipeline/guard.py). Each tripped guard denies with the guard's own reason, which has the
# figures: loops (the same call K times in a window), budgets (data.rollgate.budgets: calls,
# mutating calls, resource keys, sums such as amount_cents) and rate limits (with retry_after).
# A policy of one's own may read the signals and decide otherwise. Compensations are never stopped.

signals := object.get(input, "signals", {})

deny contains reason if {
	some guard in ["loop", "budget", "rate"]
	signal := object.get(signals, guard, null)
	signal.tripped == true
	not input.compensation
	reason := object.get(signal, "reason", sprintf("the %s guard tripped", [guard]))
}

# A runaway loop also quarantines its workflow when `guards.loops.quarantine` is on.
loop_quarantine if {
	signals.loop.tripped == true
	signals.loop.quarantine == true
	not input.compensation
	input.workflow.status != "quarantined"
}

guard_obligations := {"quarantine": true} if {
	loop_quarantine
} else := {}

# Tool-definition pinning: the upstream changed this tool's definition since it was pinned. Its
# calls wait for an operator to review and accept the new one; compensations still run (the
# gateway sends them from the operator's manifest, not from what the tool now says about itself).
deny contains reason if {
	input.tool.definition_changed
	not input.compensation
	reason := sprintf("the definition of tool %s changed since it was pinned (its description, schemas or annotations); its calls are held until an operator reviews and accepts the new definition (rollgate tools accept %s)", [input.tool.qualified, input.tool.qualified])
}

# -- guards: what the guard stages measured (input.signals) ------------------------------------
#
# An open circuit breaker fails fast, compensations included: the upstream or tool is failing
# anyway, and it is not called at all until its cool-down is over (then one probe call decides).

deny contains reason if {
	breaker := input.signals.breaker
	breaker.tripped == true
	breaker.state == "open"
	reason := sprintf("the circuit breaker of %s is open after %d consecutive failures: calls fail fast for %.1f s more, then one call probes it", [breaker_subject(breaker), breaker.failures, breaker.retry_after])
}

deny contains reason if {
	breaker := input.signals.breaker
	breaker.tripped == true
	breaker.state != "open"
	reason := sprintf("the circuit breaker of %s is half-open after %d consecutive failures: one probe call is testing it now", [breaker_subject(breaker), breaker.failures])
}

breaker_subject(breaker) := sprintf("upstream %s", [breaker.name]) if breaker.scope == "upstream"

breaker_subject(breaker) := sprintf("your calls of tool %s (they answered errors)", [breaker.name]) if breaker.scope == "tool"

principal_detail := concat("", [": ", input.principal.quarantine_reason]) if {
	is_string(input.principal.quarantine_reason)
} else := ""

quarantine_detail := concat("", [": ", input.workflow.status_reason]) if {
	is_string(input.workflow.status_reason)
} else := ""

# -- the matrix -------------------------------------------------------------------------------------

cell := matrix[manifest.reversibility][manifest.impact]

low_confidence if {
	manifest.reversibility != "read_only"
	input.call.confidence != null
	input.call.confidence < thresholds.approve_below_confidence
}

default effect := "deny"

effect := "deny" if count(deny) > 0

effect := "allow" if {
	count(deny) == 0
	manifest.reversibility == "read_only"
}

effect := "allow" if {
	count(deny) == 0
	input.compensation
	manifest.reversibility != "read_only"
}

effect := cell_effect if {
	count(deny) == 0
	not input.compensation
	manifest.reversibility != "read_only"
}

matrix_effect := "require_approval" if {
	cell.effect == "allow"
	low_confidence
} else := cell.effect

# At execution of an approved call policy is asked again, with the approval in the input: the
# approval answers the matrix's require_approval, and every deny above still applies.
cell_effect := "allow" if {
	input.approval.granted
	matrix_effect == "require_approval"
} else := matrix_effect

reasons := sort(deny) if count(deny) > 0

reasons := [sprintf("%s tool: read-only calls are allowed", [input.tool.qualified])] if {
	count(deny) == 0
	manifest.reversibility == "read_only"
}

reasons := [sprintf("compensation of a %s step: allowed so that rollback can proceed", [manifest.reversibility])] if {
	count(deny) == 0
	input.compensation
	manifest.reversibility != "read_only"
}

reasons := array.concat(
	[sprintf("%s tool with %s impact: %s (matrix cell %s/%s)", [manifest.reversibility, manifest.impact, cell_effect, manifest.reversibility, manifest.impact])],
	confidence_reasons,
) if {
	count(deny) == 0
	not input.compensation
	manifest.reversibility != "read_only"
}

confidence_reasons := [sprintf("the agent's confidence %.2f is below %.2f", [input.call.confidence, thresholds.approve_below_confidence])] if {
	low_confidence
	cell.effect == "allow"
} else := []

approvers := object.get(cell, "approvers", [{"role": "approver", "count": 1}]) if effect == "require_approval"

approvers := [] if effect != "require_approval"

# Masks: masking["*"] (in data.json: common secret names at any depth) plus the tool's own paths.
obligations := object.union(
	object.union(object.get(cell, "obligations", {}), guard_obligations),
	{
		"snapshot_required": object.get(manifest, "snapshot", null) != null,
		"mask": array.concat(masking["*"], object.get(masking, input.tool.qualified, [])),
	},
)

matched := [sprintf("deny: %s", [r]) | some r in deny] if count(deny) > 0

matched := [sprintf("matrix[%s][%s]", [manifest.reversibility, manifest.impact])] if count(deny) == 0

decision := {
	"effect": effect,
	"reasons": reasons,
	"approvers": approvers,
	"obligations": obligations,
	"matched": matched,
}
