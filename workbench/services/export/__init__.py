"""What leaves the home: ``packages`` (evidence packages, their rules and the transfer register),
``reports`` (PDF reports), ``files`` (packages waiting for their one download)."""

__all__: list[str] = []
