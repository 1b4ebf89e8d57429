#!/bin/sh
# Run the test suite from a fresh checkout; needs only Python 3 and npm.
#
#   sh tests/run.sh [pytest arguments]
#
# Creates .venv at the repository root (once), installs this checkout with its test and
# browser extras, installs the demo's pinned FilePond (some tests run FilePond's own code) and
# runs pytest. The browser tests need Chromium (Debian: apt-get install chromium) and are
# skipped without it unless FILEPOND_REQUIRE_BROWSER=1.
# FILEPOND_TEST_DB=postgresql runs the suite on PostgreSQL (127.0.0.1:5432, user postgres).
# The multi-server tests (tests/multiserver) run only on PostgreSQL and need Debian's nginx
# (apt-get install nginx); they are skipped without it unless FILEPOND_REQUIRE_NGINX=1.
set -eu

REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
VENV="$REPO_DIR/.venv"
PYTHON="$VENV/bin/python"

if [ ! -x "$PYTHON" ]; then
    python3 -m venv "$VENV"
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$REPO_DIR[test,browser]"
(cd "$REPO_DIR/demo" && npm ci --no-audit --no-fund --loglevel=error)

cd "$REPO_DIR"
exec "$PYTHON" -m pytest "$@"
