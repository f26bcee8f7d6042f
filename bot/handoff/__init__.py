"""Human handoff: escalation, the handoff queue, live updates for staff and the staff API."""
