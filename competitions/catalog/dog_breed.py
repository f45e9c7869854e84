"""dog-breed-identification: 120 breeds, photos of various sizes, multi-class log loss.

Layout in shared/competitions.md: labels.csv (id,breed), train/<id>.jpg, test/<id>.jpg,
sample_submission.csv (id + one probability column per breed, alphabetical). The spec, with the 120
classes in that order, is the file specs/dog-breed-identification.yaml; every breed names an
ImageNet-1k class, so a pretrained classifier's dog rows can initialise the new head.
"""

from __future__ import annotations

from competitions.catalog.spec_files import builtin_spec

DOG_BREED = builtin_spec("dog-breed-identification")
DOG_BREEDS = DOG_BREED.classes
