"""Layers point one way: the library (`tfvae`) <- the binaries (`trainers`, `export`) <- the tools (`serving`,
`benchmarks`). A module imports only from its own layer or the ones below it (every import statement, including
those inside functions, read from the source)."""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# package -> the project's packages it must not import
FORBIDDEN = {"tfvae": {"trainers", "export", "serving", "benchmarks", "tests"},
             "trainers": {"serving", "benchmarks", "tests"},
             "export": {"serving", "benchmarks", "tests"},
             "serving": {"trainers", "export", "benchmarks", "tests"}}


def _imported_packages(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_above_its_own(package):
    back_edges = [f"{path.relative_to(REPO)}:{line} imports {name}"
                  for path in sorted((REPO / package).rglob("*.py"))
                  for line, name in _imported_packages(path) if name in FORBIDDEN[package]]
    assert not back_edges, "\n".join(back_edges)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import trainers.jobs\nfrom serving import client\n"
                      "def f():\n    from export import x\n    return __import__('benchmarks.common')\n")
    assert [name for _, name in _imported_packages(module)] == ["trainers", "serving", "export", "benchmarks"]
