"""The services: every read and write of case data, each taking the account that acts.

One module per concept (a package where a concept has several mechanisms: ``capture``, ``analysis``,
``dedup``, ``export``). Front ends (``workbench.cli``, ``workbench.app``) parse, show and call these;
the permission checks (``auth.check_case``, ``access.visible_clause``) and all SQL live here, so no
front end can skip or bend them (tests/test_layout.py). Services never import a front end.
"""

__all__: list[str] = []
