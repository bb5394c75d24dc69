"""The application: services (``workbench.services``), the `wb` CLI (``workbench.cli``) and the
Streamlit app (``workbench.app``). Front ends call services; services never import a front end."""

__version__ = "0.1.0"
TOOL_VERSION = f"wb/{__version__}"  # recorded as the tool in custody events and packages

__all__ = ["TOOL_VERSION", "__version__"]
