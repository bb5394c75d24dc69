.PHONY: setup run test bench

setup:
	scripts/setup.sh

# Start the app on 127.0.0.1:8501 with the embedded default (SQLite + a local folder). On a fresh
# home `wb init` asks on the terminal for the first admin; skipped, the app's first screen makes it
# (from this machine only), and `wb serve` says so when it starts.
run: setup
	.venv/bin/wb init
	.venv/bin/wb serve

# Lint, types and the whole test suite: what CI runs.
test: setup
	scripts/check

bench: setup
	.venv/bin/python bench/ingest.py
