"""Model operations: ``/api/models`` (versions, gate, replay, deploy, rollback) and the followers
that keep this worker on the registry's live router and generator."""
