#!/usr/bin/env bash
# Installs the independent OAuth servers that tests/servers.rs runs suites/oauth2 against
# (django-oauth-toolkit and Authlib, from PyPI, into tests/servers/.venv). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
fi
tests/servers/install.sh
