"""Without a GPU (CI, this machine) the CUDA half answers as torch does on such a machine, and
importing nnfast pulls in no GPU library."""
import os
import subprocess
import sys

import pytest

import nnfast as nf
from nnfast import cli


def test_importing_nnfast_never_imports_numba():
    code = ("import sys, nnfast, nnfast.nn, nnfast.optim; x = nnfast.ones(2).to('cpu'); "
            "assert 'numba' not in sys.modules, 'numba imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


@pytest.mark.skipif(nf.cuda.is_available(), reason="this machine has a GPU")
def test_no_gpu_answers_like_torch_without_one(capsys):
    assert nf.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nf.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nf.nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nf.cuda.memory_allocated()
    assert cli.main(["train", "--device", "cuda", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: no CUDA GPU is available" in err and len(err.strip().splitlines()) == 1
