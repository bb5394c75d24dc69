"""The app's pages: widgets and calls into ``workbench`` only. Each module has ``render(ctx)``.

``workbench/app.py`` routes between them with ``st.navigation`` (which also stops Streamlit from
treating this folder as a set of stand-alone scripts).
"""
