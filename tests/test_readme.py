"""The README's example code runs as written and does what it says."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_example_trains_and_prints_pytorch_shapes(capsys):
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    ns = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    out = capsys.readouterr().out.strip()
    loss_text, shape_text = out.split(" ", 1)
    assert 0.0 < float(loss_text) < 5.0
    assert shape_text == "(128, 64)"
    assert ns["model"].state_dict()["0.weight"].shape == (128, 64)
