#!/bin/sh
# Run the demo on http://127.0.0.1:8000/ from a fresh checkout; needs only Python 3 and npm.
#
#   sh demo/start.sh
#
# Creates .venv at the repository root (once), installs this checkout into it, installs
# FilePond from demo/package-lock.json, migrates demo/var/db.sqlite3 and runs the server.
# Safe to run again: every step skips or repeats harmlessly.
set -eu

DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$DEMO_DIR")
VENV="$REPO_DIR/.venv"
PYTHON="$VENV/bin/python"

if [ ! -x "$PYTHON" ]; then
    echo "Creating $VENV"
    python3 -m venv "$VENV"
fi

echo "Installing django-filepond-server from $REPO_DIR"
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$REPO_DIR"

echo "Installing FilePond (demo/package-lock.json)"
(cd "$DEMO_DIR" && npm ci --no-audit --no-fund --loglevel=error)

"$PYTHON" "$DEMO_DIR/manage.py" migrate --no-input

echo "Open http://127.0.0.1:8000/ (Ctrl-C stops the server)"
exec "$PYTHON" "$DEMO_DIR/manage.py" runserver 127.0.0.1:8000
