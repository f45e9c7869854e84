"""Where the competitions' YAML presets live: competitions/catalog/configs/<slug>/<preset>.yaml."""

from __future__ import annotations

from pathlib import Path

CONFIG_ROOT = Path(__file__).resolve().parent / "configs"
