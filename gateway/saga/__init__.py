"""Sagas: the steps of a workflow, how to undo them, checkpoints, rollback and quarantine."""
