"""The evidence store: write-once blobs, the database, the custody log, ingest and exports."""

__all__: list[str] = []
