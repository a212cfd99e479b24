#!/usr/bin/env bash
# Installs the independent OAuth servers that tests/servers.rs runs suites/oauth2 against
# (django-oauth-toolkit and Authlib from PyPI into tests/servers/.venv; oidc-provider from npm into
# tests/servers/oidc-provider/node_modules). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
fi
# oidc-provider 9 needs Node.js 20 or later.
if ! command -v npm >/dev/null 2>&1 || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || {
  echo ".ci/servers.sh: Node.js $(node --version) is older than 20, which oidc-provider 9 needs" >&2
  exit 1
}
tests/servers/install.sh
