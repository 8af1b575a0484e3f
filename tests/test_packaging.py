"""The package as users get it: a wheel and an sdist that pass `twine check`, whose declared requirements cover
every library the code imports, and a wheel that works outside the checkout: installed into a fresh virtual
environment, `nlp-lstm init` + `run` + `predict` on a CSV with other column names."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO
from tests.test_init import reviews

# Imported only on the backend or device that needs them, each installed by an extra (or by Keras itself).
OPTIONAL_IMPORTS = {"jax", "torch", "tensorflow", "jaxlib", "IPython"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """`python -m build` of the checkout: dist/ with a wheel and an sdist."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


def test_the_wheel_and_sdist_pass_twine_and_hold_the_package(dist):
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    sources = {str(p.relative_to(REPO)) for p in (REPO / "nlp_lstm").rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))[:5]
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/")) for name in names)
    assert any(name.endswith("licenses/LICENSE") or name.endswith("/LICENSE") for name in names)
    assert "Requires-Python: >=3.11" in metadata
    for extra in ("gpu", "jax", "jax-cuda", "torch", "vectors", "notebooks", "docs", "dev", "test"):
        assert f"Provides-Extra: {extra}" in metadata
    long_description = metadata.split("\n\n", 1)[1]
    assert long_description.strip().startswith("# nlp_lstm") and len(long_description.splitlines()) <= 150


def _top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_every_library_the_package_imports_is_a_declared_requirement():
    imported = set().union(*(_top_level_imports(p) for p in (REPO / "nlp_lstm").rglob("*.py")))
    third_party = {
        name
        for name in imported
        if name not in sys.stdlib_module_names
        and name not in ("nlp_lstm", "__future__")
        and name not in OPTIONAL_IMPORTS
    }
    declared = {
        Requirement(text).name.lower().replace("_", "-")
        for text in importlib.metadata.requires("nlp-lstm") or []
        if "extra ==" not in text
    }
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(third_party):
        providers = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not providers & declared:
            undeclared[module] = sorted(providers)
    assert not undeclared, f"imported but not in install_requires: {undeclared}"


def _fresh_environment(root: Path) -> Path:
    """A new virtual environment whose third-party libraries are the test environment's (a path file lists
    them: no download), but which has no nlp_lstm of its own: the package must come from the wheel."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path entry: the test environment's own .pth files (its editable nlp_lstm) are not processed.
    (Path(purelib) / "test_environment_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_trains_and_predicts_in_a_fresh_environment_outside_the_checkout(dist, tmp_path):
    python = _fresh_environment(tmp_path / "venv")
    wheel = next(dist.glob("*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    nlp_lstm = tmp_path / "venv" / "bin" / "nlp-lstm"
    assert nlp_lstm.exists()
    work = tmp_path / "project"
    work.mkdir()
    reviews(work / "reviews.csv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(nlp_lstm), *args], cwd=work, input=stdin, capture_output=True, text=True, env=env, timeout=600
        )

    where = subprocess.run(
        [str(python), "-c", "import nlp_lstm, json; print(json.dumps([nlp_lstm.__file__, nlp_lstm.__version__]))"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    location, version = json.loads(where.stdout)
    assert Path(location).is_relative_to(tmp_path / "venv"), location
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)

    drafted = cli("init", "sentiment", "--train", "reviews.csv", "-o", "reviews.yaml")
    assert drafted.returncode == 0, drafted.stderr
    assert "data.text_column: 'review'" in drafted.stderr and "data.label_column: 'stars'" in drafted.stderr
    trained = cli("run", "reviews.yaml", "--set", "training.epochs=2", "--set", "model.rnn.units=16")
    assert trained.returncode == 0, trained.stderr[-3000:]
    model_dir = re.search(r"model saved:\s+(\S+)", trained.stdout).group(1)
    assert (work / model_dir / "pipeline.json").is_file()
    assert (work / "mlflow.db").is_file()
    predicted = cli("predict", model_dir, stdin="a wonderful, moving film\na dull, boring mess\n")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    answers = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [answer["label"] for answer in answers] == ["5", "1"]
