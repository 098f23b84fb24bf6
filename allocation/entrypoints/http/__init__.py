"""The allocation service over HTTP: the operators' operations as a FastAPI app."""
