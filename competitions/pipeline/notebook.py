"""The inference notebook of a package and its kernel-metadata.json (what `kaggle kernels push` reads).

The notebook is thin: it finds the packaged dataset under the input folder, installs compete and the
bundled wheels with pip from that folder only (no index: the internet is off), and calls
``competitions.predict_bundle``, which predicts, blends and writes WORKING/submission.csv. The input and
working folders are settings (COMPETE_INPUT, COMPETE_WORKING), so the same notebook runs anywhere.
"""

from __future__ import annotations

from pathlib import Path

from competitions.core.artifacts import write_text
from competitions.core.spec import CompetitionSpec

SETTINGS = '''import os, sys, time, json, subprocess, zipfile
from pathlib import Path

started = time.time()
INPUT = Path(os.environ.get("COMPETE_INPUT", "/kaggle/input"))        # where Kaggle mounts the sources
WORKING = Path(os.environ.get("COMPETE_WORKING", "/kaggle/working"))  # writable; submission.csv goes here
COMPETITION = {slug!r}
DATASET = {dataset!r}  # the packaged dataset (compete package): its folder under INPUT'''

INSTALL = '''def find(name, marker):
    """INPUT/name, or the first folder under INPUT (two levels down) that holds ``marker``."""
    for folder in [INPUT / name, INPUT / "competitions" / name, INPUT / "datasets" / name, *sorted(INPUT.glob("*")),
                   *sorted(INPUT.glob("*/*")), *sorted(INPUT.glob("*/*/*"))]:
        if (folder / marker).exists():
            return folder
    raise FileNotFoundError(f"no {{name}} under {{INPUT}} (looked for {{marker}}): add it as an input of the notebook")


BUNDLE = find(DATASET, "compete-bundle.json")
DATA = find(COMPETITION, {sample!r})
bundle = json.loads((BUNDLE / "compete-bundle.json").read_text())
wheels = BUNDLE / "wheels"  # uploaded as wheels.zip: unpacked as wheels/, into the top folder, or left a zip
if not wheels.is_dir() and (BUNDLE / "wheels.zip").is_file():
    with zipfile.ZipFile(BUNDLE / "wheels.zip") as archive:
        archive.extractall(WORKING / "wheels")
    wheels = WORKING / "wheels"
elif not wheels.is_dir():
    wheels = BUNDLE
t = time.time()
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--ignore-installed",
                "--find-links", str(wheels), *bundle["install"]], check=True)
print(f"install: {{', '.join(bundle['install'])}} from {{wheels}} ({{time.time() - t:.1f}}s)")'''

PREDICT = '''from competitions import predict_bundle

submission = predict_bundle(BUNDLE, data_dir=DATA, working=WORKING)
print(f"total: {time.time() - started:.1f}s")
submission.frame.head()'''


def write_notebook(path: Path, spec: CompetitionSpec, dataset_slug: str, bundle: dict) -> Path:
    import nbformat

    runs = ", ".join(run["name"] for run in bundle["runs"])
    blend = f", blended as {bundle['blend']['name']} ({bundle['blend']['weights']} weights)" if bundle["blend"] else ""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {spec.title}: offline inference\n\nWritten by `compete package`. Predicts the test set with the "
            f"packaged runs ({runs}{blend}) and writes `submission.csv`; needs no internet: compete and the "
            "libraries Kaggle's image lacks install from the packaged dataset's wheels."
        ),
        nbformat.v4.new_code_cell(SETTINGS.format(slug=spec.slug, dataset=dataset_slug)),
        nbformat.v4.new_code_cell(INSTALL.format(sample=spec.sample_submission)),
        nbformat.v4.new_code_cell(PREDICT),
    ]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"compete-{index}"  # stable ids: the same package writes the same notebook
    nbformat.validate(notebook)
    return write_text(path, nbformat.writes(notebook) + "\n")


def kernel_metadata(spec: CompetitionSpec, owner: str, kernel_slug: str, dataset_slug: str, gpu: bool) -> dict:
    """kernel-metadata.json: a private notebook, internet off, the competition and the dataset as sources.
    The title is the slug with spaces, so that Kaggle derives the same slug from it."""
    return {
        "id": f"{owner}/{kernel_slug}",
        "title": kernel_slug.replace("-", " "),
        "code_file": "inference.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "dataset_sources": [f"{owner}/{dataset_slug}"],
        "competition_sources": [spec.slug],
        "kernel_sources": [],
        "model_sources": [],
    }
