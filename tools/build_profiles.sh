#!/usr/bin/env bash
# Regenerate profiles/package/ from profiles/input/fsh (see tools/build_profiles.py).
# Needs Node.js + npm (fsh-sushi is installed into profiles/.build) and Python 3.11+;
# reaches only npm and PyPI, and only the first time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py="python3"; fi
fi
exec "$py" "$here/tools/build_profiles.py" "$@"
