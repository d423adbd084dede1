"""Rules of the code's shape that neither ruff nor the import contracts check.

The layers and the absence of import cycles are import-linter contracts (pyproject.toml, run by
`make check`); what is here reads the package's source with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "studio"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` in ``path`` reads from."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_studio_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (PACKAGE.parent / relative).with_suffix(".py").is_file() or (PACKAGE.parent / relative).is_dir()


def private_uses(path: Path, source: str) -> list[str]:
    """Private names that module ``path`` takes from another studio module: imported, or read off it."""
    tree = ast.parse(source)
    found, module_aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = resolve(path, node)
            if not origin.startswith("studio"):
                continue
            for alias in node.names:
                if is_private(alias.name) or any(is_private(p) for p in origin.split(".")):
                    found.append(f"{origin}.{alias.name} (line {node.lineno})")
                elif is_studio_module(f"{origin}.{alias.name}"):
                    module_aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("studio") and alias.asname:
                    module_aliases.add(alias.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
        ):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_the_checker_sees_private_names():
    probe = PACKAGE / "core" / "nets" / "probe.py"  # a pretend module: only its place matters
    source = (
        "from .registry import _ARCHITECTURES, build\n"
        "from studio.core import nets\n"
        "import studio.core.nets.detect as detect\n"
        "from torch import _C\n"  # not ours
        "nets._hidden(detect._quote, nets.build, self._own)\n"
    )
    assert private_uses(probe, source) == [
        "studio.core.nets.registry._ARCHITECTURES (line 1)",
        "nets._hidden (line 5)",
        "detect._quote (line 5)",
    ]


def test_no_private_names_are_used_across_modules():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if (uses := private_uses(path, path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"private names used outside their module (make them public or move them): {offenders}"
