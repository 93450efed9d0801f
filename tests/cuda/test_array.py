"""CudaArray's views and host boundary, the allocator's statistics, and the device seam
(tensors and modules moving between devices, PyTorch's mixed-device error)."""
import numpy as np
import pytest

import nnfast as nf
from nnfast import backend
from conftest import dev, host


def test_views_match_numpy_views():
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    d = dev(a)
    for key in [1, -1, (slice(None), 2), (Ellipsis, 1), (None, 1, slice(1, 3)),
                (slice(None, None, -1),), (slice(0, 3, 2), slice(None), slice(4, 0, -2)),
                (2, 3, 4), (slice(5, 9),)]:
        assert np.array_equal(d[key].get(), a[key]), key
        assert d[key].shape == a[key].shape
    assert np.array_equal(d.T.get(), a.T)
    assert np.array_equal(d.transpose(1, 0, 2).get(), a.transpose(1, 0, 2))
    assert np.array_equal(d.reshape(-1, 6).get(), a.reshape(-1, 6))
    assert np.array_equal(d.T.reshape(-1).get(), a.T.reshape(-1))   # copies a strided view
    assert np.array_equal(np.broadcast_to(dev(a[:1]), (2, 4, 5)).get(),
                          np.broadcast_to(a[:1], (2, 4, 5)))
    assert np.array_equal(np.expand_dims(d, 1).get(), np.expand_dims(a, 1))
    assert np.array_equal(np.moveaxis(d, 0, -1).get(), np.moveaxis(a, 0, -1))
    assert d.strides == a.strides and d.T.strides == a.T.strides
    assert d.flags.c_contiguous and not d.T.flags.c_contiguous


def test_index_errors_are_numpys():
    d = dev(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match="out of bounds"):
        d[2]
    with pytest.raises(IndexError, match="too many indices"):
        d[0, 0, 0]
    with pytest.raises(ValueError, match="cannot reshape"):
        d.reshape(4, 2)


def test_copies_conversions_and_fills():
    a = np.arange(-3, 9, dtype=np.float32).reshape(3, 4) / 2
    d = dev(a)
    assert np.array_equal(d.astype(np.int64).get(), a.astype(np.int64))
    assert np.array_equal(d.astype(bool).get(), a.astype(bool))
    assert np.array_equal(backend.contiguous(d.T).get(), np.ascontiguousarray(a.T))
    z = np.zeros_like(d)
    assert z.dtype == np.float32 and not z.get().any()
    f = np.full_like(d, 7, dtype=np.int64)
    assert f.dtype == np.int64 and (f.get() == 7).all()
    v = d[1:, ::2]
    v.fill(5.0)
    want = a.copy()
    want[1:, ::2] = 5.0
    assert np.array_equal(d.get(), want)


def test_host_conversion_is_refused_as_torch_refuses_it():
    t = nf.ones(3).to("cuda")
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        t.numpy()
    with pytest.raises(TypeError, match="Tensor.cpu"):
        np.asarray(t)
    assert np.array_equal(t.cpu().numpy(), np.ones(3, np.float32))
    assert t.numpy(force=True).tolist() == [1.0, 1.0, 1.0]


def test_tensor_and_module_devices():
    assert nf.cuda.is_available() and nf.cuda.device_count() == 1
    x = nf.randn(4, 3)
    xc = x.to("cuda")
    assert xc.device == nf.device("cuda:0") and xc.is_cuda and not xc.is_cpu
    assert xc.get_device() == 0 and x.get_device() == -1
    assert xc.to("cuda") is xc and xc.cuda() is xc
    assert np.array_equal(xc.cpu().numpy(), x.numpy())
    m = nf.nn.Linear(3, 2)
    w = m.weight
    assert m.to(nf.device("cuda")) is m and m.weight is w and w.device.type == "cuda"
    assert m.cpu().weight.device.type == "cpu"
    with pytest.raises(RuntimeError, match="one GPU"):
        x.to("cuda:1")


def test_mixed_devices_raise_pytorchs_error():
    a = nf.ones(2, 3).to("cuda")
    w = nf.nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, "
                       "but found at least two devices, cuda:0 and cpu!"):
        w(a)
    with pytest.raises(RuntimeError, match="same device"):
        backend.table_of(a._storage, np.zeros(3))


def test_gradient_flows_back_through_a_device_copy():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cuda")
    assert y.grad_fn is not None
    z = y.cpu()
    z.backward(nf.tensor([3.0, 4.0]))
    assert x.grad.device.type == "cpu" and x.grad.tolist() == [3.0, 4.0]


def test_allocator_pools_and_counts():
    nf.cuda.empty_cache()
    base = nf.cuda.memory_allocated()
    t = nf.zeros(1000).to("cuda")
    held = nf.cuda.memory_allocated() - base
    assert held >= 4000 and held % 512 == 0
    assert nf.cuda.max_memory_allocated() >= nf.cuda.memory_allocated()
    reserved = nf.cuda.memory_reserved()
    del t
    assert nf.cuda.memory_allocated() == base
    u = nf.zeros(1000).to("cuda")   # the freed block is reused, nothing new reserved
    assert nf.cuda.memory_reserved() == reserved
    del u
    nf.cuda.empty_cache()
    assert nf.cuda.memory_reserved() < reserved
    nf.cuda.synchronize()


def test_pickling_keeps_the_device():
    import pickle
    t = nf.arange(4.0).to("cuda")
    u = pickle.loads(pickle.dumps(t))
    assert u.device.type == "cuda" and u.cpu().tolist() == [0.0, 1.0, 2.0, 3.0]


def test_out_of_memory_names_the_request(monkeypatch):
    from numba import cuda
    from nnfast.backend.cuda import memory
    calls = []

    def full_device(count, dtype):
        calls.append(count)
        raise RuntimeError("[CUDA_ERROR_OUT_OF_MEMORY] Call to cuMemAlloc results in "
                           "CUDA_ERROR_OUT_OF_MEMORY")
    monkeypatch.setattr(cuda, "device_array", full_device)
    with pytest.raises(RuntimeError, match=r"CUDA out of memory: tried to allocate 3814\.70 "
                       r"MiB \(1000000000 x float32\)"):
        memory.allocate(10 ** 9, np.float32)
    assert len(calls) == 2   # the pooled blocks were given back and the request retried
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="CUDA_ERROR_INVALID_VALUE"):
        def bad(count, dtype):
            raise RuntimeError("CUDA_ERROR_INVALID_VALUE")
        monkeypatch.setattr(cuda, "device_array", bad)
        memory.allocate(7, np.float32)   # other driver errors pass through unchanged


def test_a_kernel_error_at_synchronize_names_the_op(monkeypatch):
    from numba import cuda
    K = backend.get("cuda")
    a = dev(np.ones(4, np.float32))
    np.add(a, a)   # records the last op the table launched
    K.sumabs(a)

    def failing():
        raise RuntimeError("CUDA_ERROR_ILLEGAL_ADDRESS")
    monkeypatch.setattr(cuda, "synchronize", failing)
    with pytest.raises(RuntimeError, match="CUDA error in or after sumabs: "
                       "CUDA_ERROR_ILLEGAL_ADDRESS"):
        nf.cuda.synchronize()


def test_load_with_map_location_cuda(tmp_path):
    sd = {"w": nf.arange(3.0), "nested": [nf.ones(2)]}
    nf.save(sd, tmp_path / "f.nnf")
    got = nf.load(tmp_path / "f.nnf", map_location="cuda")
    assert got["w"].device.type == "cuda" and got["nested"][0].device.type == "cuda"
    assert got["w"].cpu().tolist() == [0.0, 1.0, 2.0]
    assert nf.load(tmp_path / "f.nnf", map_location={"cuda:0": "cpu"})["w"].device.type == "cpu"


def test_a_kernel_error_at_a_host_copy_names_the_op(monkeypatch):
    from nnfast.backend.cuda.array import CudaArray
    K = backend.get("cuda")
    a = dev(np.ones(4, np.float32))
    K.sumabs(a)

    class CudaAPIError(Exception):
        pass
    CudaAPIError.__module__ = "numba.cuda.cudadrv.driver"

    def failing(self):
        raise CudaAPIError("[700] CUDA_ERROR_ILLEGAL_ADDRESS")
    monkeypatch.setattr(CudaArray, "_get", failing)
    with pytest.raises(RuntimeError, match="CUDA error in or after sumabs: .*ILLEGAL_ADDRESS"):
        a.get()


def test_one_hot_and_data_ptr_on_cuda():
    import nnfast.nn.functional as F
    y = nf.tensor([2, 0, 1]).to("cuda")
    h = F.one_hot(y, 4)
    assert h.device.type == "cuda" and h.cpu().tolist() == F.one_hot(y.cpu(), 4).tolist()
    x = nf.arange(6.0).to("cuda")
    assert x[2:].data_ptr() - x.data_ptr() == 8 and isinstance(x.data_ptr(), int)


def test_strided_view_stays_inside_its_memory():
    K = backend.get("cuda")
    a = dev(np.arange(6, dtype=np.float32))
    assert np.array_equal(K.strided_view(a, (3, 2), (8, 4)).get(),
                          np.lib.stride_tricks.as_strided(a.get(), (3, 2), (8, 4)))
    with pytest.raises(ValueError, match="reaches outside the array's memory"):
        K.strided_view(a, (3, 2), (4096, 4))
    with pytest.raises(ValueError, match="reaches outside"):
        K.strided_view(a[2:], (4,), (-4,))
