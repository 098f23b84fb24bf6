"""Prefect flows: the orchestration shell around the allocation services."""
