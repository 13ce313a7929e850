"""calbridge service: everything with I/O (HTTP, database, upstream APIs)."""
