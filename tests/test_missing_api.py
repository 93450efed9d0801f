"""The guiding edge: a PyTorch API nnfast lacks raises AttributeError naming it; names torch
lacks too get the ordinary error; nothing nnfast has is shadowed."""
import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast._torch_names import NAMES

SPACES = [("nnfast", "torch"), ("nnfast.nn", "torch.nn"),
          ("nnfast.nn.functional", "torch.nn.functional"), ("nnfast.optim", "torch.optim"),
          ("nnfast.nn.init", "torch.nn.init"), ("nnfast.utils.data", "torch.utils.data"),
          ("nnfast.optim.lr_scheduler", "torch.optim.lr_scheduler"),
          ("nnfast.nn.utils", "torch.nn.utils")]


def lacking(nf_mod, space):
    mod = importlib.import_module(nf_mod)
    return sorted(n for n in NAMES[space] if n not in vars(mod))


@pytest.mark.parametrize("nf_mod,space", SPACES)
def test_module_names_torch_has_say_so(nf_mod, space):
    mod = importlib.import_module(nf_mod)
    missing = lacking(nf_mod, space)
    assert missing, f"{nf_mod} has all of {space}?"
    for name in missing[:40]:
        with pytest.raises(AttributeError, match=rf"nnfast does not have {space}\.{name} yet"):
            getattr(mod, name)
        assert not hasattr(mod, name)
    with pytest.raises(AttributeError, match=rf"module '{nf_mod}' has no attribute "
                                             "'surely_not_a_torch_name'"):
        getattr(mod, "surely_not_a_torch_name")


@pytest.mark.parametrize("nf_mod,space", SPACES)
def test_names_really_exist_in_torch(nf_mod, space):
    tmod = importlib.import_module(space)
    for name in lacking(nf_mod, space)[:40]:
        assert hasattr(tmod, name), f"{space}.{name} is listed but torch lacks it"


def test_from_import_of_a_missing_name_fails_with_importerror():
    with pytest.raises(ImportError):
        exec("from nnfast.nn import AdaptiveLogSoftmaxWithLoss", {})


def test_tensor_methods_torch_has():
    t = nf.ones(2, 3)
    missing = sorted(n for n in NAMES["torch.Tensor"] if nf._missing.is_missing(nf.Tensor, n))
    assert missing
    for name in missing[:60]:
        assert name in dir(torch.Tensor), name
        with pytest.raises(AttributeError,
                           match=rf"nnfast does not have torch\.Tensor\.{name} yet"):
            getattr(t, name)
        assert not hasattr(t, name) and name not in dir(t)
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'zz_top'"):
        t.zz_top
    p = nf.nn.Parameter(nf.ones(1))
    with pytest.raises(AttributeError, match="does not have torch.Tensor"):
        getattr(p, missing[0])


def test_nothing_nnfast_has_is_shadowed():
    t = nf.ones(2, 3, requires_grad=True)
    for name in ("sum", "mean", "reshape", "numpy", "grad", "requires_grad", "T", "shape",
                 "backward", "detach", "relu", "softmax", "to", "dtype", "device", "data"):
        getattr(t, name)
    assert "sum" in dir(t) and "backward" in dir(t)
    assert nf.nn.Linear and nf.optim.SGD and nf.nn.functional.relu and nf.tensor
    np.testing.assert_array_equal(np.asarray(nf.ones(2)), np.ones(2, np.float32))


def test_a_method_bound_later_replaces_the_marker():
    name = next(n for n in sorted(NAMES["torch.Tensor"])
                if nf._missing.is_missing(nf.Tensor, n))
    marker = nf.Tensor.__dict__[name]
    try:
        setattr(nf.Tensor, name, lambda self: "bound")
        assert getattr(nf.ones(1), name)() == "bound"
    finally:
        setattr(nf.Tensor, name, marker)


def test_module_attributes_torch_has():
    m = nf.nn.Linear(2, 2)
    missing = sorted(n for n in NAMES["torch.nn.Module"] if not hasattr(type(m), n))
    for name in missing:
        with pytest.raises(AttributeError,
                           match=rf"nnfast does not have torch\.nn\.Module\.{name} yet"):
            getattr(m, name)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        m.nope


def test_import_nnfast_as_torch_program_gets_a_clear_message():
    code = ("import nnfast as torch\n"
            "x = torch.ones(3)\n"
            "try:\n"
            "    torch.fft.fft(x)\n"
            "except AttributeError as e:\n"
            "    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert r.returncode == 0, r.stderr
    assert "nnfast does not have torch.fft yet" in r.stdout
