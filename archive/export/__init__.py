"""Evidence packages: BagIt bags, item tables, PDF reports, and the package verifier.

Everything here works from plain data (dicts gathered from the archive) and files: the verifier needs no
database at all, so a stranger can run it on a package alone.
"""

__all__: list[str] = []
