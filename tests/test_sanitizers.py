"""The sanitizer job (issue 14): the kernel-safety, alignment and threading tests run again on
an AddressSanitizer + UndefinedBehaviorSanitizer build of nnfast._C, in a fresh interpreter,
and must pass with no sanitizer report.

The sanitized extension is built with `NNFAST_SANITIZE=1 python setup.py build_ext` into
build/sanitize/ (object files are kept there: a rerun with no change to csrc/ or the Cython
files rebuilds nothing, an edit of one kernel recompiles one file). A copy of the nnfast
package with that extension and of the test files runs from a temporary folder, so the
checkout's own build is left as it is.

Any report ends its process with a failure status (halt_on_error). ASan writes its reports to
files (log_path), so one from a process that a test starts (fork, a subprocess) is seen too;
UBSan writes to stderr, and the inner pytest runs with -s so that its capture cannot swallow
a report from a process that dies. Two canaries check that the set-up catches what it is for:
a misaligned load and a heap overflow, made on purpose through ctypes, must be reported.

Cost (two cores): the first build 45 s, the run 25 s; with the build folder kept, a rerun
rebuilds nothing. No environment variable skips it: a machine without gcc's libasan and
libubsan fails here, saying so.
"""
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "sanitize")
TESTS = ["tests/test_kernel_safety.py", "tests/test_alignment.py", "tests/test_threads.py"]


def _runtime(name):
    """Path of gcc's sanitizer runtime; the test fails (it does not skip) without one."""
    r = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True)
    path = r.stdout.strip()
    assert r.returncode == 0 and os.path.isabs(path) and os.path.exists(path), \
        f"gcc has no {name}: the sanitizer job needs gcc's libasan and libubsan"
    return path


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    """(tree, env): a folder holding nnfast with the sanitized _C and the test files, and the
    environment that runs Python with the sanitizer runtimes loaded."""
    assert os.path.exists(os.path.join(ROOT, "setup.py")), "the sanitizer job runs from a checkout"
    for module in ("Cython", "setuptools"):    # pip's build of nnfast had them in its own env
        assert importlib.util.find_spec(module), \
            f"the sanitizer build needs {module} here: pip install -e '.[test]'"
    lib, temp = os.path.join(BUILD, "lib"), os.path.join(BUILD, "temp")
    # --force: link again always; setup.py's object cache recompiles only what changed
    # (source, header or flags), which setuptools' own check of the .so alone would miss
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--force", "--build-lib",
                        lib, "--build-temp", temp], cwd=ROOT, env=dict(os.environ, NNFAST_SANITIZE="1"),
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, "sanitizer build failed:\n" + (r.stdout + r.stderr)[-4000:]
    built = glob.glob(os.path.join(lib, "nnfast", "_C*.so"))
    assert len(built) == 1, built

    tree = tmp_path_factory.mktemp("sanitized")
    shutil.copytree(os.path.join(ROOT, "nnfast"), tree / "nnfast", ignore=shutil.ignore_patterns(
        "*.so", "*.c", "*.html", "__pycache__"))
    shutil.copy(built[0], tree / "nnfast")
    shutil.copytree(os.path.join(ROOT, "tests"), tree / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tree)

    logs = tree / "sanitizer-logs"
    logs.mkdir()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        LD_PRELOAD=_runtime("libasan.so") + " " + _runtime("libubsan.so"),
        # leaks: CPython keeps objects to exit; huge requests: return NULL, so NumPy raises
        # MemoryError as it does without ASan; freed blocks wait in a 16 MiB quarantine, not
        # 256 (use after free is still caught over the last 16 MiB freed), so that the RSS
        # bound of the short-lived-threads test means what it means without ASan
        ASAN_OPTIONS=f"detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=16:"
                     f"halt_on_error=1:log_path={logs}/asan",
        UBSAN_OPTIONS=f"print_stacktrace=1:halt_on_error=1:log_path={logs}/ubsan",
    )
    return tree, env


MARKS = ("ERROR: AddressSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def _reports(tree, r):
    """The sanitizer reports of run r: its log files, and its stderr (UBSan, loaded beside
    ASan, writes there whatever log_path says)."""
    out = []
    for path in sorted(glob.glob(str(tree / "sanitizer-logs" / "*"))):
        with open(path, errors="replace") as f:
            out.append(f"--- {os.path.basename(path)}\n{f.read()[-3000:]}")
        os.remove(path)
    if any(m in r.stderr for m in MARKS):
        out.append(f"--- stderr\n{r.stderr[-3000:]}")
    return "\n".join(out)


def _python(tree, env, code, timeout):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=timeout)


_CANARY = """
import ctypes, numpy as np, nnfast._C as C
assert C.__file__.startswith({tree!r}), C.__file__
lib = ctypes.CDLL(C.__file__)
lib.nf_maxabs.restype = ctypes.c_float
lib.nf_maxabs.argtypes = [ctypes.c_void_p, ctypes.c_int64]
{body}
"""


def test_the_sanitized_build_reports_a_misaligned_load(sanitized):
    tree, env = sanitized
    body = """
    raw = np.zeros(16, np.uint8)
    lib.nf_maxabs(raw.ctypes.data + 1, 3)        # three floats from an odd address
    """
    r = _python(tree, env, _CANARY.format(tree=str(tree), body=textwrap.dedent(body)), 120)
    report = _reports(tree, r)
    assert r.returncode != 0 and "misaligned address" in report, report or r.stderr[-2000:]


def test_the_sanitized_build_reports_a_heap_overflow(sanitized):
    tree, env = sanitized
    body = """
    x = np.ones(16, np.float32)
    lib.nf_maxabs(x.ctypes.data, 4096)           # reads far past the 64-byte block
    """
    r = _python(tree, env, _CANARY.format(tree=str(tree), body=textwrap.dedent(body)), 120)
    report = _reports(tree, r)
    assert r.returncode != 0 and "heap-buffer-overflow" in report, report or r.stderr[-2000:]


def test_kernel_safety_and_threads_pass_clean_under_asan_and_ubsan(sanitized):
    tree, env = sanitized
    code = f"""
    import sys, pytest, nnfast._C as C
    assert C.__file__.startswith({str(tree)!r}), C.__file__
    sys.exit(pytest.main(["-q", "-s", "-p", "no:cacheprovider", *{TESTS!r}]))
    """
    r = _python(tree, env, code, 1200)
    report = _reports(tree, r)
    assert r.returncode == 0 and not report, \
        f"exit status {r.returncode}\n{report}\n{(r.stdout + r.stderr)[-6000:]}"
