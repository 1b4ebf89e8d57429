#!/bin/sh
# Run the test suite from a fresh checkout:
#
#   sh tests/run.sh [pytest arguments]
#
# Needs Python 3, npm and the libmagic library that the package itself needs (Debian and
# Ubuntu: apt-get install libmagic1; macOS: brew install libmagic). Creates .venv at the
# repository root (once), installs this checkout with its test and browser extras, installs
# the demo's pinned FilePond (some tests run FilePond's own code) and runs pytest.
#
# Tests that need another system part are skipped without it, with the reason, unless the
# variable beside it is set (CI sets them all, so there they fail instead):
#   the browser tests: Chromium (apt-get install chromium)      FILEPOND_REQUIRE_BROWSER=1
#   the SFTP tests: OpenSSH's sshd and ssh-keygen (apt-get install openssh-server, which
#     brings openssh-client)                                  FILEPOND_REQUIRE_SFTP=1
#   the multi-server and file offload tests: nginx (apt-get install nginx)
#                                                             FILEPOND_REQUIRE_NGINX=1
# FILEPOND_TEST_DB=postgresql runs the suite on PostgreSQL (127.0.0.1:5432, user postgres,
# database PGDATABASE, by default filepond_server).
# The multi-server tests (tests/multiserver) run only on PostgreSQL: several app servers
# cannot share SQLite.
set -eu

REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
VENV="$REPO_DIR/.venv"
PYTHON="$VENV/bin/python"

if ! command -v npm >/dev/null 2>&1; then
    echo "tests/run.sh: npm is needed to install FilePond for the tests (install Node.js)." >&2
    exit 1
fi
if [ ! -x "$PYTHON" ]; then
    python3 -m venv "$VENV"
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e "$REPO_DIR[test,browser]"
if ! "$PYTHON" -c "import magic; magic.from_buffer(b'%PDF-1.4', mime=True)" >/dev/null 2>&1; then
    echo "tests/run.sh: the libmagic library is missing; django-filepond-server needs it to" \
        "check uploads by content. Install it (Debian, Ubuntu: apt-get install libmagic1;" \
        "macOS: brew install libmagic) and run this again." >&2
    exit 1
fi
(cd "$REPO_DIR/demo" && npm ci --no-audit --no-fund --loglevel=error)

cd "$REPO_DIR"
exec "$PYTHON" -m pytest "$@"
