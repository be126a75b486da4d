"""Domain tables: merge the staged rows into domain.<feed> (upsert or truncate_upsert)."""
