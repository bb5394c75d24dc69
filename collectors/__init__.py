"""Bring things from the world into the archive: web captures and local files. No database access."""

__all__: list[str] = []
