"""Near-duplicates as a service: ``clusters`` answers an account's questions (similar items,
clusters, confirm or reject); ``index`` keeps the fingerprints and the per-case index they use."""

__all__: list[str] = []
