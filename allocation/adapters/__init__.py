"""Adapters: object storage, input files, the DuckDB warehouse and Parquet publishing."""
