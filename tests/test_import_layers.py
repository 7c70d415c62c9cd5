"""Layers point one way: the library (`tfvae`) <- the binaries (`trainers`, `export`) <- the tools (`serving`,
`benchmarks`). A module imports only from its own layer or the ones below it (every import statement, including
those inside functions, read from the source). Plotting libraries are imported inside the functions that draw."""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# package -> the project's packages it must not import
FORBIDDEN = {"tfvae": {"trainers", "export", "serving", "benchmarks", "tests"},
             "trainers": {"serving", "benchmarks", "tests"},
             "export": {"serving", "benchmarks", "tests"},
             "serving": {"trainers", "export", "benchmarks", "tests"}}


def _imported_packages(path, module_level=False):
    """(line, top-level package) of every import in the file; with `module_level`, only those that run when the
    module is imported (outside function bodies)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = ast.walk(tree)
    if module_level:
        def outside_functions(node):
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    yield child
                    yield from outside_functions(child)
        nodes = outside_functions(tree)
    for node in nodes:
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


def test_matplotlib_is_imported_inside_the_functions_that_draw():
    """`import tfvae` and the binaries do not import matplotlib themselves; the first figure does (Keras 3.15's
    `keras.src.visualization` imports matplotlib.pyplot on its own when it is installed, so this is checked in the
    source rather than in `sys.modules`)."""
    at_import = [f"{path.relative_to(REPO)}:{line}" for package in ("tfvae", "trainers", "export", "serving")
                 for path in sorted((REPO / package).rglob("*.py"))
                 for line, name in _imported_packages(path, module_level=True) if name == "matplotlib"]
    assert not at_import, "matplotlib imported at module level (import it inside the drawing function):\n" + \
        "\n".join(at_import)
    assert "matplotlib" in {name for _, name in _imported_packages(REPO / "trainers" / "report_html.py")}


def test_module_level_imports_leave_out_function_bodies(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import numpy\ntry:\n    import scipy\nexcept ImportError:\n    pass\n"
                      "class A:\n    def f(self):\n        import matplotlib\n"
                      "def g():\n    from matplotlib import figure\n")
    assert [name for _, name in _imported_packages(module, module_level=True)] == ["numpy", "scipy"]
    assert [name for _, name in _imported_packages(module)] == ["numpy", "scipy", "matplotlib", "matplotlib"]
