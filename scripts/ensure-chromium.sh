#!/usr/bin/env bash
# The sandbox console's browser tests drive the system Chromium (playwright-core downloads none).
# `npm test` runs this first: a no-op where Chromium is found (CHROMIUM_PATH, /usr/bin/chromium, or
# `chromium` on the PATH); on a fresh Debian machine it installs Debian's package, and where it cannot
# (not root, no password-less sudo) it stops the run with what to do, rather than skip those tests.
set -euo pipefail
have_chromium() { { [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; } || [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; }
have_chromium && exit 0
echo "installing chromium for the console's browser tests"
if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n); else
  echo "chromium is missing and cannot be installed here (not root, no password-less sudo): install it (sudo apt-get install -y chromium), or set CHROMIUM_PATH" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing and this machine has no apt-get: install Chromium, then set CHROMIUM_PATH to it" >&2
  exit 1
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
have_chromium || { echo "chromium did not install; the browser tests cannot run" >&2; exit 1; }
