#!/usr/bin/env bash
# Install specdec-mini with everything its lessons, demo and tests need, on a fresh Debian machine.
# The Python side comes from PyPI (torch is pinned to the CPU build 2.13.0 in pyproject.toml); the
# browser for the demo's end-to-end test is Debian's chromium, driven by Playwright's Python package.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core
  else
    echo "install.sh: chromium is missing; install Debian's chromium package (needed by the browser test only)" >&2
  fi
fi

python -m pip install -q -e ".[dev]"
