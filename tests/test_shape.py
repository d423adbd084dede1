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


MAX_LINES = 450


def test_modules_stay_short_enough_to_read_in_one_sitting():
    """A module over MAX_LINES says why in its opening docstring (it mentions its length there)."""
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if lines > MAX_LINES and f"{MAX_LINES} lines" not in docstring:
            too_long[str(path.relative_to(PACKAGE.parent))] = lines
    assert not too_long, f"split these modules, or say in their docstring why they are over {MAX_LINES} lines: {too_long}"


def test_modules_have_names_of_their_own_across_the_engine():
    """Two engine modules that are different things do not share a name (core/norms.py and
    core/nets/norms.py once did). A kind's network and its trainer share the kind's name on purpose
    (nets/vae.py, train/vae.py), as do the jobs of two packages (train/job.py, evaluate/job.py)."""
    from studio.core.train.kinds import KINDS

    allowed = {"__init__", "job"}
    seen: dict[str, list[str]] = {}
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        seen.setdefault(path.stem, []).append(str(path.relative_to(PACKAGE)))

    def network_and_trainer(name: str, places: list[str]) -> bool:
        return name in KINDS and places == [f"core/nets/{name}.py", f"core/train/{name}.py"]

    shared = {name: places for name, places in seen.items()
              if len(places) > 1 and name not in allowed and not network_and_trainer(name, places)}
    packages = {p.name for p in (PACKAGE / "core").iterdir() if p.is_dir() and not p.name.startswith("_")}
    clashes = {name: places for name, places in seen.items() if name in packages and name != "__init__"}
    assert not shared and not clashes, f"engine modules sharing a name: {shared or clashes}"
