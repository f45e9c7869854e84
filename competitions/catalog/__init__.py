"""The catalog of supported competitions, keyed by Kaggle slug: one module per spec, presets in configs/."""

from __future__ import annotations

from competitions.catalog.cifar10 import CIFAR10
from competitions.catalog.classify_leaves import CLASSIFY_LEAVES
from competitions.catalog.dog_breed import DOG_BREED
from competitions.catalog.house_prices import AMES, CALIFORNIA
from competitions.core.errors import CompeteError
from competitions.core.spec import CompetitionSpec

COMPETITIONS: dict[str, CompetitionSpec] = {
    spec.slug: spec for spec in (CIFAR10, CLASSIFY_LEAVES, DOG_BREED, AMES, CALIFORNIA)
}


def get_competition(slug: str) -> CompetitionSpec:
    try:
        return COMPETITIONS[slug]
    except KeyError:
        known = ", ".join(sorted(COMPETITIONS))
        raise CompeteError(f"unknown competition {slug!r}; known: {known} (see `compete list`)") from None
