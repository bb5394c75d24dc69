"""Near-duplicates as a service: ``clusters`` answers an account's questions (similar items,
clusters, confirm or reject); ``index`` keeps the fingerprints and the per-case index they use.

The thresholds live here, apart from both, so that `wb` can show them as defaults without loading
the numerical stack."""

__all__ = ["DUPLICATE_THRESHOLD", "RELATED_THRESHOLD"]

# Chosen on corpus/near_dups (see docs/dedup.md): at 10 bits no hard negative matched and pair
# precision was 0.99; at 12 same-scene separate captures start to appear, as "possibly related".
DUPLICATE_THRESHOLD = 10
RELATED_THRESHOLD = 12
