#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): at most 5 minutes on one GPU, one JSON file.
#   bash benchmarks/gpu_check.sh --out benchmarks/figures/gpu_check.json
#   bash benchmarks/gpu_check.sh --device cpu --quick --out /tmp/check.json
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
exec timeout 300 "$python" benchmarks/gpu_check.py "$@"
