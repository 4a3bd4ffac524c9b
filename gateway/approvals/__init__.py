"""Human approvals: tickets, their store, the queue, notifications and CLI."""
