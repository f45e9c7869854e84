"""cifar-10: 32x32 RGB PNGs, ten classes, accuracy. Layout in shared/competitions.md; the spec is the
file specs/cifar-10.yaml (its DataModule and model are Python: datamodules/cifar10.py, ...)."""

from __future__ import annotations

from competitions.catalog.spec_files import builtin_spec

CIFAR10 = builtin_spec("cifar-10")
CIFAR10_CLASSES = CIFAR10.classes
