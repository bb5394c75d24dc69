"""The application: pipeline, jobs, accounts, the `wb` CLI and the Streamlit app."""

__version__ = "0.1.0"

__all__ = ["__version__"]
