"""Which package may import which: the arrows point down only, so each layer can change, be
tested and be reused without the ones above it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import in `package`'s modules."""
    found = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # calls follows sign-ins through accounts' and Django's signals (calls.signals).
        ("accounts", ("calls",)),
        # config (settings, middleware, the channel layer) imports the infrastructure.
        ("calls/infra", ("calls.services", "calls.consumers", "calls.models", "calls.views", "config")),
        # The signaling core is driven by the consumers and never calls back into them (frames flow one way).
        ("calls/signaling", ("calls.consumers", "calls.views", "calls.room_views", "calls.admin", "config")),
    ],
)
def test_a_lower_layer_imports_nothing_of_the_ones_above(package, forbidden):
    wrong = [
        (path, module)
        for path, module in _imports(package)
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]
    assert wrong == []
