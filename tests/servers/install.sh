#!/usr/bin/env bash
# Installs the independent OAuth servers of tests/servers.rs into tests/servers/.venv (git-ignored).
# Idempotent: does nothing when the venv already holds exactly requirements.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tests/servers: already installed ($venv)"
  exit 0
fi
command -v "$python" >/dev/null || { echo "tests/servers: $python not found (Python 3.10+ is needed)" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" >"$stamp"
"$venv/bin/python" -m pip freeze --disable-pip-version-check | sed 's/^/tests\/servers: /'
