"""The five names a PyTorch program imports, from torch or from nnfast.

    import torch; import torch.nn as nn; import torch.nn.functional as F
    import torch.optim as optim; import torch.utils.data as data

Each program in this folder has build(torch, nn, F) -> {name: module} and
train(torch, nn, F, optim, data, models, ...) -> {name: [numbers]}; running one file as a
script trains it on torch, or on nnfast with `--nnfast`."""
import os
import sys
import types


def load(engine):
    if engine == "torch":
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim as optim
        import torch.utils.data as data
    elif engine == "nnfast":
        import nnfast as torch
        import nnfast.nn as nn
        import nnfast.nn.functional as F
        import nnfast.optim as optim
        import nnfast.utils.data as data
    else:
        raise ValueError(f"engine must be 'torch' or 'nnfast', not {engine!r}")
    return types.SimpleNamespace(torch=torch, nn=nn, F=F, optim=optim, data=data)


def main(program):
    """Run one program as a script: train it and print what it returns."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, root)   # this checkout's nnfast, before an installed one
    m = load("nnfast" if "--nnfast" in sys.argv else "torch")
    m.torch.manual_seed(0)
    models = program.build(m.torch, m.nn, m.F)
    out = program.train(m.torch, m.nn, m.F, m.optim, m.data, models)
    for k, v in out.items():
        print(k, " ".join(f"{x:.4f}" for x in v))
