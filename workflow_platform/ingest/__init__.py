"""The load step, courier -> feed -> domain, exactly once (docs/architecture.md: its layers and the path of one file)."""
