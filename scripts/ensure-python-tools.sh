#!/usr/bin/env bash
# The test suite's Python tools (moto's server, cfn-lint, checkov) live in a project-local virtual
# environment, `.venv`, pinned by requirements-tools.txt. `npm test` runs this first: a no-op when the
# environment matches the pins, otherwise it (re)creates it. Nothing is skipped when Python is
# missing: the run stops here with what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements-tools.sha256"
want=$(sha256sum requirements-tools.txt | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi

python=${PYTHON:-$(command -v python3 || true)}
if [ -z "$python" ] || ! command -v "$python" >/dev/null 2>&1; then
  echo "${python:-python3} is missing: the tests need it for moto, cfn-lint and checkov (Debian: apt-get install -y python3 python3-venv; or set PYTHON)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  echo "$python is $("$python" --version 2>&1): the tests need Python 3.9 or later for moto, cfn-lint and checkov" >&2
  exit 1
fi
echo "installing the test suite's Python tools into $venv (moto, cfn-lint, checkov; about a minute)" >&2
rm -rf "$venv"
if ! "$python" -m venv "$venv" 2>/dev/null; then
  echo "$python cannot create a virtual environment (Debian: apt-get install -y python3-venv)" >&2
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r requirements-tools.txt; then
  rm -rf "$venv"
  echo "could not install requirements-tools.txt from PyPI into $venv (pip said why above): check the network or PIP_INDEX_URL, then run npm test again" >&2
  exit 1
fi
echo "$want" > "$stamp"
