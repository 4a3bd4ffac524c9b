"""Human approvals: tickets and what approvers see of them, their store, the queue, notifications."""
