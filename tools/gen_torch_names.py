"""Write nnfast/_torch_names.py: the public names of PyTorch's main namespaces (names only),
from the installed torch. nnfast's module-level __getattr__ uses them to tell a user that a
PyTorch API is not in nnfast yet. Run again when the reference torch version changes:

    python tools/gen_torch_names.py
"""
import __future__
import inspect
import os
import textwrap

import torch
import torch.nn.functional
import torch.optim

SPACES = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.nn": torch.nn,
          "torch.nn.functional": torch.nn.functional, "torch.optim": torch.optim,
          "torch.nn.init": torch.nn.init, "torch.nn.utils": torch.nn.utils,
          "torch.utils.data": torch.utils.data, "torch.optim.lr_scheduler":
          torch.optim.lr_scheduler, "torch.nn.Module": torch.nn.Module}


def _foreign(value):
    """Modules and typing helpers a namespace merely imported (math, warnings, Optional)."""
    if isinstance(value, (bool, __future__._Feature)):   # TYPE_CHECKING, annotations
        return True
    if inspect.ismodule(value):
        return not value.__name__.startswith("torch")
    mod = getattr(value, "__module__", None) or ""
    return mod in ("typing", "typing_extensions", "collections.abc", "builtins", "abc") \
        and not isinstance(value, type(torch.float32))


def public(obj):
    out = []
    for n in dir(obj):
        if n.startswith("_") or not n.isidentifier():
            continue
        try:
            value = inspect.getattr_static(obj, n)
        except AttributeError:
            value = None
        if not _foreign(value):
            out.append(n)
    return sorted(out)


def main():
    out = [f'"""Public names of PyTorch {torch.__version__.split("+")[0]}\'s namespaces (names '
           'only), written by\ntools/gen_torch_names.py. nnfast/_missing.py reads them."""',
           "", "NAMES = {"]
    for key, obj in SPACES.items():
        body = textwrap.wrap(" ".join(public(obj)), 88)
        out.append(f"    {key!r}: frozenset(\"\"\"")
        out += ["        " + line for line in body]
        out.append('    """.split()),')
    out.append("}")
    path = os.path.join(os.path.dirname(__file__), "..", "nnfast", "_torch_names.py")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
