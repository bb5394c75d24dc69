"""Web capture as a service: ``run`` drives the collector for an account, ``store`` records what it
staged, ``network`` holds where captures may go (allowed targets, a case's upstream proxy) and
``profiles`` a case's logged-in browser profile."""

__all__: list[str] = []
