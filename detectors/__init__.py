"""Pure analysis of evidence: bytes in, fingerprints and flags out. No database access."""

__all__: list[str] = []
