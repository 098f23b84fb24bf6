"""Use cases: the night's run stages and the operators' operations, over the adapters."""
