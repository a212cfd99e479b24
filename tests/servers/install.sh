#!/usr/bin/env bash
# Installs the independent OAuth servers of tests/servers.rs: django-oauth-toolkit and Authlib into
# tests/servers/.venv, oidc-provider into tests/servers/oidc-provider/node_modules (both git-ignored).
# Idempotent: does nothing for a part whose stamp holds the hash of its pinned list
# (requirements.txt, package-lock.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# --- Python: django-oauth-toolkit and Authlib
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tests/servers: already installed ($venv)"
else
  command -v "$python" >/dev/null || { echo "tests/servers: $python not found (Python 3.10+ is needed)" >&2; exit 1; }
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
  "$venv/bin/python" -m pip freeze --disable-pip-version-check | sed 's/^/tests\/servers: /'
fi

# --- Node: oidc-provider, exactly as package-lock.json pins it
node_dir="$here/oidc-provider"
lock="$node_dir/package-lock.json"
node_stamp="$node_dir/node_modules/.package-lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ -f "$node_stamp" ] && [ "$(cat "$node_stamp")" = "$want" ]; then
  echo "tests/servers: already installed ($node_dir/node_modules)"
  exit 0
fi
command -v npm >/dev/null || { echo "tests/servers: npm not found (Node.js 20+ is needed for oidc-provider)" >&2; exit 1; }
npm ci --silent --no-audit --no-fund --prefix "$node_dir"
echo "$want" >"$node_stamp"
echo "tests/servers: oidc-provider $(node -p "require('$node_dir/node_modules/oidc-provider/package.json').version") (node $(node --version))"
