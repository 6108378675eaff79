#!/usr/bin/env bash
# Create or refresh the local virtual environment (.venv) with pinned packages; idempotent and quick
# when nothing changed. Usage: scripts/setup.sh [--test]   (--test adds pytest, playwright, chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
want_test=0; [ "${1:-}" = "--test" ] && want_test=1

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "Python 3.10 or newer is needed (found: $("$PY" --version 2>&1))." >&2; exit 1; }

hash="$(cat constraints.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
ready() { [ -x .venv/bin/python ] && [ "$(cat "$1" 2>/dev/null)" = "$hash" ]; }
if ready .venv/.setup-app && { [ "$want_test" = 0 ] || ready .venv/.setup-test; }; then
  exit 0
fi

echo "Setting up the virtual environment in .venv (first time: a few minutes)…"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: an unpinned torch pulls a several-GB CUDA build
"${PIP[@]}" "torch==2.13.0"
extras=""; [ "$want_test" = 1 ] && extras="[test]"
"${PIP[@]}" -c constraints.txt -e ".${extras}"

# Arabic OCR for scans and photographed pages: Debian's Tesseract with its Arabic model (the tests need it too)
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx ara; then
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    echo "Installing Debian's Tesseract with its Arabic model (OCR of scans and photos)…"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    # OCR is one feature among many: a failed install warns (the OCR tests then fail), it does not stop the chat
    { $SUDO apt-get update -qq >/dev/null \
      && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-ara >/dev/null; } \
      || echo "Could not install Tesseract. Scans and photos need: sudo apt-get install tesseract-ocr tesseract-ocr-ara" >&2
  else
    echo "Scans and photos need Arabic OCR. Install it with: sudo apt-get install tesseract-ocr tesseract-ocr-ara" >&2
  fi
fi

if [ "$want_test" = 1 ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests…"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
echo "$hash" > .venv/.setup-app
[ "$want_test" = 1 ] && echo "$hash" > .venv/.setup-test
exit 0
