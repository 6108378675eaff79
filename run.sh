#!/usr/bin/env bash
# One command: set everything up, prepare the model, index sources/ when needed, start the web chat.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/assistant chat "$@"
