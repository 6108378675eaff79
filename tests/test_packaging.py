"""The package as it ships: a wheel installed into an empty folder answers, and the code has no import cycle."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ARTICLE, ROOT, model_cache

PACKAGE = ROOT / "assistant"


def _imports(path: Path, module: str) -> set[str]:
    """The assistant modules a file imports (at any depth: lazy imports inside functions count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("assistant")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("assistant"):
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the assistant modules it imports."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle() -> None:
    """No module of the package imports itself back, even through a lazy import inside a function."""
    graph = import_graph()
    assert len(graph) > 20 and "assistant.sources" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.slow
def test_a_wheel_installed_into_an_empty_folder_answers(tmp_path: Path) -> None:
    """``pip install --no-deps --target DIR .``, then ingest the article and answer from an empty home."""
    target, home, work = tmp_path / "site", tmp_path / "home", tmp_path / "empty"
    work.mkdir()
    (home / "sources").mkdir(parents=True)
    shutil.copy(ARTICLE, home / "sources" / ARTICLE.name)
    top_level_skip = {".venv", ".git", "index", "evals", "tests", "benchmarks", "build"}

    def skip(folder: str, names: list[str]) -> set[str]:
        here = Path(folder) == ROOT
        return {n for n in names if (here and n in top_level_skip) or n == "__pycache__" or n.endswith(".egg-info")}

    build = shutil.copytree(ROOT, tmp_path / "src", ignore=skip)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(build)], check=True, timeout=300)
    assert (target / "assistant" / "prompts" / "messages.yaml").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(PYTHONPATH=str(target), ASSISTANT_HOME=str(home), ASSISTANT_CACHE_DIR=str(model_cache()),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cli = [sys.executable, "-c", "import sys; from assistant.cli import main; sys.exit(main())"]
    run = lambda *args: subprocess.run([*cli, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)  # noqa: E731
    ingest = run("ingest")
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    where = subprocess.run([sys.executable, "-c", "import assistant; print(assistant.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), where  # the installed copy answered, not the checkout
    ask = run("ask", "--json", "كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert ask.returncode == 0, ask.stderr[-2000:]
    assert "181" in json.loads(ask.stdout)["answer"]


def test_every_import_is_a_declared_dependency() -> None:
    """Each third-party module the package imports comes from a distribution pyproject.toml names."""
    import importlib.metadata
    import re
    import tomllib

    declared = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower().replace("_", "-")
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("assistant", "__future__"):
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                if not owners & declared:
                    missing.setdefault(top, set()).add(path.name)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
