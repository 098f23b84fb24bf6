"""Warehouse stock allocation: match customer order lines to stock batches, nightly and on demand."""
