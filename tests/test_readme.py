"""The README stays true: its Python quickstart runs as written (in a fresh process, with its /tmp paths moved into
the test's folder), and it stays a front door."""
import pathlib
import re

import pytest

from tests.conftest import REPO, run_python

README = pathlib.Path(REPO) / "README.md"


def _quickstart():
    text = README.read_text()
    section = text.split("## Quickstart in Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow  # trains on digits and exports
def test_the_python_quickstart_runs_as_written(tmp_path):
    code = _quickstart().replace("/tmp/tfvae/quickstart", str(tmp_path / "quickstart"))
    code = code.replace("epochs=20", "epochs=3")  # the same code; fewer epochs keep the test short
    assert str(tmp_path) in code  # every path of the block was moved
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    result = run_python([str(script)], timeout=600)
    assert result.stdout.strip().splitlines()[-1] == "(8, 8, 8, 1)", result.stdout[-3000:]
    assert (tmp_path / "quickstart" / "export" / "rae_l2" / "1" / "saved_model.pb").exists()


def test_the_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    assert lines[2] == "```bash" and lines[3].startswith("# 1.") and "pip install -e . -c constraints.txt" in "\n".join(lines[:8])
    assert 10 <= len(_quickstart().strip().splitlines()) <= 20  # a short quickstart
    prose = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
    for link in re.findall(r"\]\(([^)#]+)\)", prose):
        assert (pathlib.Path(REPO) / link).exists(), link
