"""Warehouse stock allocation: match order lines to stock batches, nightly and on demand."""
