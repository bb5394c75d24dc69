"""The Streamlit app: ``main`` (login, then the pages a role may use), ``pages``, the ASGI wrapper
``asgi`` (login routes, headers, file routes), ``webauth`` (the login cookie and request rules) and
``serve`` (`wb serve`). It shows and calls ``workbench.services``; it holds no SQL and no
permission logic of its own."""

__all__: list[str] = []
