"""The catalog of supported competitions, keyed by Kaggle slug: the built-ins are spec files
(specs/SLUG.yaml, presets in configs/SLUG/), then the user's (./competitions.d/*.yaml, --spec FILE)."""

from __future__ import annotations

from pathlib import Path

from competitions.catalog.spec_files import BUILTIN_DIR, load_spec_file
from competitions.core.errors import CompeteError
from competitions.core.spec import CompetitionSpec

COMPETITIONS: dict[str, CompetitionSpec] = {
    spec.slug: spec for spec in (load_spec_file(path) for path in sorted(BUILTIN_DIR.glob("*.yaml")))
}


def all_competitions() -> dict[str, CompetitionSpec]:
    """The built-in competitions, then the user's spec files (./competitions.d/*.yaml, --spec FILE)."""
    from competitions.catalog.spec_files import user_specs

    found = dict(COMPETITIONS)
    for slug, spec in user_specs().items():
        if slug in COMPETITIONS:
            raise CompeteError(f"{spec.source}: `slug` {slug!r} is a built-in competition; choose another slug")
        found[slug] = spec
    return found


def get_competition(slug: str) -> CompetitionSpec:
    if slug in COMPETITIONS:
        return COMPETITIONS[slug]
    found = all_competitions()
    if slug in found:
        return found[slug]
    from competitions.catalog.spec_files import BROKEN

    broken = [message for path, message in BROKEN.items() if Path(path).stem == slug]
    if broken:  # its spec file is there but was skipped: say why, not "unknown"
        raise CompeteError(broken[0])
    known = ", ".join(sorted(found))
    raise CompeteError(f"unknown competition {slug!r}; known: {known} (see `compete list`; a new one: compete init "
                       f"{slug} --data-dir DIR)")  # fmt: skip
