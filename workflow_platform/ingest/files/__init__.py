"""Reading landed files: the units of a file, its header and encoding, the DuckDB reader SQL, limits."""
