"""The package's layers import only downwards: config -> data -> preprocessing -> inference -> models -> training ->
evaluation -> tasks -> tracking -> runner -> CLI, with shared helpers below them all."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nlp_lstm"

# Lowest first; a module may import its own layer's modules and any lower layer's, never a higher one's.
LAYERS = [
    {"errors", "files", "lazy", "fused_kernels", "vectors", "version"},
    {"config"},
    {"data", "model_dir"},
    {"preprocessing"},
    {"inference"},
    {"models"},
    {"training"},
    {"evaluation"},
    {"tasks"},
    {"tracking"},
    {"pipeline"},
    {"sweep", "info", "init_config", "server"},
    {"cli"},
    {"__init__"},  # the package's API: `nlp_lstm.load` and the Keras registration hook
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
    """nlp_lstm.tasks.ner.task -> tasks; nlp_lstm -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Every nlp_lstm module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "nlp_lstm" or name.startswith("nlp_lstm.")}


def test_every_module_belongs_to_a_layer():
    layers = {
        _layer(".".join(("nlp_lstm", *p.relative_to(PACKAGE).with_suffix("").parts))) for p in PACKAGE.rglob("*.py")
    }
    assert layers <= set(LEVEL), f"modules outside the layers: {sorted(layers - set(LEVEL))}"


def test_no_layer_imports_a_higher_one():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("nlp_lstm", *path.relative_to(PACKAGE).with_suffix("").parts))
        own = LEVEL[_layer(module)]
        for imported in sorted(_imports(path)):
            if LEVEL[_layer(imported)] > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)} imports {imported}")
    assert not upward, "\n".join(upward)


def test_nothing_below_the_tasks_imports_mlflow():
    """MLflow is for tracking (and for the types a task declares for serving): a config, a reader, a
    preprocessing step, a model or the trainer must not need it."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("nlp_lstm", *path.relative_to(PACKAGE).with_suffix("").parts))
        if LEVEL[_layer(module)] >= LEVEL["tasks"]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        if any(name == "mlflow" or name.startswith("mlflow.") for name in names):
            offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert not offenders, offenders
