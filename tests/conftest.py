import os
import sys

# scikit-learn's check_array_api_input runs only when SciPy was imported with this set
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Run against the checkout (build with `python setup.py build_ext --inplace`) or an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hypothesis import settings  # noqa: E402

# CI runs a fixed set of examples (a red run must be reproducible); local runs explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# tests/cuda runs under Numba's CUDA simulator in its own process (tests/test_cuda_sim.py
# starts it); the simulator must be chosen before Numba is first imported.
if not os.environ.get("NUMBA_ENABLE_CUDASIM"):
    collect_ignore = ["cuda"]

# The long subprocess checks (tests/background.py) run beside the rest of a whole-suite run:
# their tests go last, and their jobs start in a background lane when collection ends.
_BACKGROUND = ("test_cuda_sim", "test_cuda_ptx")


def pytest_collection_modifyitems(session, config, items):
    mods = {}
    for item in items:
        mod = getattr(item, "module", None)
        if mod is not None:
            mods.setdefault(mod.__name__, mod)
    heavy = [mods[name] for name in _BACKGROUND if name in mods]
    if not heavy or len(items) < 200:   # run alone: their jobs go side by side instead
        return
    import importlib.util
    if importlib.util.find_spec("numba") is None:
        return   # their tests skip at importorskip
    items.sort(key=lambda it: getattr(getattr(it, "module", None), "__name__", "")
               in _BACKGROUND)   # stable: the rest keeps its order
    import background
    background.start_in_lane([job for mod in heavy for job in mod.jobs()])
