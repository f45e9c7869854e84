"""Every competition's `debug` preset on CPU: build the test fixture in Kaggle's layout, then time
`compete fit --config debug` and `compete predict`, and print the CV score.

    python benchmarks/debug_presets.py [--workdir /tmp/debug-presets] [--larger] [SLUG ...]

--larger: the house-price fixtures at the real Ames size (1,460 / 1,459 rows) and 4,000 / 2,000
california rows, and 400 / 100 images for cifar-10, classify-leaves and dog-breed-identification.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competitions.commands.cli import main as compete  # noqa: E402
from tests.conftest import MAKERS  # noqa: E402
from tests.fixtures import make_cifar10, make_dog_breed, make_leaves  # noqa: E402
from tests.fixtures_tabular import make_ames, make_california  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slugs", nargs="*", default=["cifar-10", *MAKERS])
    parser.add_argument("--workdir", default="/tmp/debug-presets")
    parser.add_argument("--larger", action="store_true", help="larger fixtures (see above)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    makers = {"cifar-10": make_cifar10, **MAKERS}
    if args.larger:
        makers = {
            "cifar-10": lambda root: make_cifar10(root, 400, 100),
            "classify-leaves": lambda root: make_leaves(root, 400, 100),
            "dog-breed-identification": lambda root: make_dog_breed(root, 400, 100),
            "house-prices-advanced-regression-techniques": make_ames,
            "california-house-prices": make_california,
        }
    print(f"{'competition':<46}{'train rows':>11}{'fit s':>8}{'predict s':>10}  CV (pooled OOF)")
    for slug in args.slugs:
        data = makers[slug](workdir / "data")
        run = workdir / "runs" / slug / "baseline"
        log = io.StringIO()
        with contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
            started = time.time()
            code = compete(
                ["fit", slug, "--config", "debug", "--data-dir", str(data), "--runs-dir", str(workdir / "runs")]
            )
            fitted = time.time()
            code = code or compete(["predict", slug, "--run", str(run)])
            done = time.time()
        if code:
            print(log.getvalue()[-2000:], file=sys.stderr)
            return code
        cv = json.loads((run / "cv.json").read_text())
        rows = sum(json.loads((run / f"fold{k}" / "metrics.json").read_text())["val_rows"] for k in (0, 1))
        print(f"{slug:<46}{rows:>11}{fitted - started:>8.1f}{done - fitted:>10.1f}  {cv['metric']} {cv['oof']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
