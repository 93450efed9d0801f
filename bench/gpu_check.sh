#!/usr/bin/env bash
# bench/gpu_check.sh — the one script for a short slot on a GPU machine (an NVIDIA H200):
#   1. what the machine has (Python, NumPy, Numba, numba-cuda, a kernel launch, torch + CUDA,
#      pytest, Cython); installs nothing (the machine has no network)
#   2. nvidia-smi
#   3. the extension, built in place only when nnfast._C does not import
#   4. tests/cuda on the real GPU, without the simulator (a correctness check of the production
#      tile sizes on hardware against the CPU kernels), a limit per test and for the stage
#   5. python -m bench --device cuda (nnfast/bench/cuda.py, bench/CUDA.md), its JSON into $OUT
#   6. a summary: each stage's status, the issue's targets, the failures
# Everything goes on after a failure; the exit status is 0 only when every stage passed.
# Whole run under TOTAL_S seconds (default 330, i.e. under 6 minutes with the start-up).
#
#   bash bench/gpu_check.sh                 # results in $OUT (default bench/results/gpu-check-*)
#   QUICK=1 bash bench/gpu_check.sh         # bench --quick
#   TOTAL_S=240 SKIP_TESTS=1 bash bench/gpu_check.sh
#   GPU_CHECK_SIM=1 bash bench/gpu_check.sh # rehearsal without a GPU: the simulator, bench --smoke
set -u
cd "$(dirname "$0")/.." || exit 2
T0=$(date +%s)
TOTAL_S=${TOTAL_S:-330}
OUT=${OUT:-bench/results/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || exit 2
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
PY=${PYTHON:-$(command -v python3 || command -v python)}
SIM=${GPU_CHECK_SIM:-0}
if [ "$SIM" = 1 ]; then export NUMBA_ENABLE_CUDASIM=1; else unset NUMBA_ENABLE_CUDASIM; fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
declare -A STATUS
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( TOTAL_S - $(elapsed) )); }
stage() { echo; echo "=== [$(elapsed) s] $*"; }

# ------------------------------------------------------------------ 1. environment
stage "environment (out: $OUT)"
"$PY" - "$OUT/env.json" <<'EOF'
import importlib, json, os, platform, subprocess, sys, time
info = {"python": sys.version.split()[0], "executable": sys.executable}
print(f"python {info['python']} ({sys.executable}), {platform.machine()}, {os.cpu_count()} CPUs")
def dist(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None
def save(code):
    info["exit"] = code
    with open(sys.argv[1], "w") as f:
        json.dump(info, f, indent=1)
    sys.exit(code)
try:
    import numpy as np
    info["numpy"] = np.__version__
    print(f"numpy {np.__version__}")
except ImportError:
    print("numpy is missing")
    save(3)
info["numba"], info["numba-cuda"] = dist("numba"), dist("numba-cuda")
print(f"numba {info['numba']}, numba-cuda {info['numba-cuda']}")
if info["numba-cuda"] is None:
    print("numba-cuda is missing")
    save(4)
try:
    from numba import config, cuda
    ok = cuda.is_available()
    info["cuda_available"] = bool(ok)
    print(f"numba.cuda.is_available(): {ok}{' (simulator)' if config.ENABLE_CUDASIM else ''}")
    if not ok:
        print("numba-cuda finds no GPU (driver, CUDA runtime wheels?)")
        save(5)
    if not config.ENABLE_CUDASIM:
        d = cuda.get_current_device()
        info["gpu"] = f"{d.name.decode() if isinstance(d.name, bytes) else d.name}, cc " \
                      f"{d.compute_capability[0]}.{d.compute_capability[1]}"
        print(f"GPU: {info['gpu']}")
    t0 = time.perf_counter()     # one kernel compiled and launched: NVVM/libdevice are there
    @cuda.jit
    def add_one(a):
        i = cuda.grid(1)
        if i < a.size:
            a[i] += 1.0
    a = cuda.to_device(np.zeros(64, np.float32))
    add_one[2, 32](a)
    assert (a.copy_to_host() == 1).all(), "the probe kernel computed a wrong result"
    print(f"a probe kernel compiled and ran ({time.perf_counter() - t0:.1f} s)")
except Exception as e:
    print(f"numba-cuda cannot run a kernel: {type(e).__name__}: {e}")
    info["kernel_error"] = str(e)
    save(6)
try:
    import torch
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    info["torch_cuda_available"] = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: "
          f"{torch.cuda.is_available()}")
    info["triton"] = dist("triton")
    print(f"triton (torch.compile's GPU backend): {info['triton']}")
except Exception as e:
    info["torch"] = None
    print(f"torch not importable ({type(e).__name__}: {e}): the PyTorch columns will be skipped")
for name in ("pytest", "Cython", "setuptools", "hypothesis"):
    info[name] = dist(name)
    print(f"{name} {info[name]}")
try:
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=10)
    info["cc"] = cc.stdout.splitlines()[0] if cc.stdout else None
except Exception:
    info["cc"] = None
print(f"C compiler: {info['cc']}")
save(0)
EOF
rc=$?
STATUS[environment]=$rc
if [ $rc -ne 0 ]; then
  echo "environment check failed (exit $rc): nothing else can run"
  exit $rc
fi

# ------------------------------------------------------------------ 2. nvidia-smi
stage "nvidia-smi"
if command -v nvidia-smi >/dev/null; then
  timeout 30 nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt"
  timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
    --format=csv 2>&1 | tee -a "$OUT/nvidia-smi.txt"
  STATUS[nvidia-smi]=0
else
  echo "nvidia-smi is not on PATH"
  STATUS[nvidia-smi]=missing
fi

# ------------------------------------------------------------------ 3. the extension
stage "nnfast._C"
if "$PY" -c "import nnfast._C" 2>/dev/null; then
  echo "nnfast._C imports: no build needed"
  STATUS[build]=0
else
  echo "nnfast._C does not import: python setup.py build_ext --inplace"
  timeout $(( $(left) - 180 > 60 ? $(left) - 180 : 60 )) "$PY" setup.py build_ext --inplace \
    > "$OUT/build.log" 2>&1
  STATUS[build]=$?
  tail -n 15 "$OUT/build.log"
  if ! "$PY" -c "import nnfast._C"; then
    echo "the build did not give an importable nnfast._C (exit ${STATUS[build]}): stopping"
    STATUS[build]=failed
  fi
fi

# ------------------------------------------------------------------ 4. tests/cuda on the GPU
stage "tests/cuda on the device"
if [ "${STATUS[build]}" = failed ]; then
  STATUS[tests]=not-run
elif [ "${SKIP_TESTS:-0}" = 1 ]; then
  echo "skipped (SKIP_TESTS=1)"; STATUS[tests]=skipped
elif ! "$PY" -c "import pytest" 2>/dev/null; then
  echo "pytest is missing: the CUDA tests were not run"; STATUS[tests]=no-pytest
else
  # the bench needs about 210 s of what is left; the tests get the rest, 100 s at most
  TEST_S=$(( $(left) - 210 )); [ $TEST_S -gt 100 ] && TEST_S=100; [ $TEST_S -lt 30 ] && TEST_S=30
  echo "stage limit ${TEST_S} s, ${NNFAST_TEST_TIMEOUT:-45} s per test"
  # the families a training step needs first: on hardware each test's first kernel call
  # compiles it, and the stage may end before the long tail (elementwise ufuncs, index, ...)
  FILES=()
  for f in gemm act loss optim norm conv pool rnn reduce embedding dropout array; do
    [ -f "tests/cuda/test_$f.py" ] && FILES+=("tests/cuda/test_$f.py")
  done
  for f in tests/cuda/test_*.py; do
    case " ${FILES[*]} " in *" $f "*) ;; *) [ "$f" != tests/cuda/test_bench_cuda.py ] && FILES+=("$f") ;; esac
  done
  # --confcutdir: tests/conftest.py (hypothesis, the simulator-only collect rule) stays out
  NNFAST_TEST_TIMEOUT=${NNFAST_TEST_TIMEOUT:-45} NNFAST_TESTS_END=$(( $(date +%s) + TEST_S )) \
    timeout -k 5 $(( TEST_S + 15 )) "$PY" -m pytest -p no:cacheprovider -p bench._gpu_pytest \
      --confcutdir=tests/cuda -rfE --junitxml="$OUT/tests-cuda.xml" "${FILES[@]}" \
      > "$OUT/tests-cuda.log" 2>&1
  STATUS[tests]=$?
  tail -n 40 "$OUT/tests-cuda.log"
fi

# ------------------------------------------------------------------ 5. the benchmark
stage "python -m bench --device cuda"
if [ "${STATUS[build]}" = failed ]; then
  STATUS[bench]=not-run
else
  BENCH_S=$(( $(left) - 10 )); [ $BENCH_S -lt 60 ] && BENCH_S=60
  ARGS=(--json "$OUT/bench-cuda.json" --budget-s $(( BENCH_S - 70 > 30 ? BENCH_S - 70 : 30 ))
        --compile-cap-s 35 --compile-total-s 60)
  [ "${QUICK:-0}" = 1 ] && ARGS+=(--quick)
  [ "$SIM" = 1 ] && ARGS+=(--smoke --cases mlp,sgemm)
  echo "limit ${BENCH_S} s: $PY -m bench --device cuda ${ARGS[*]}"
  timeout -k 10 $BENCH_S "$PY" -m bench --device cuda "${ARGS[@]}"
  STATUS[bench]=$?
fi

# ------------------------------------------------------------------ 6. summary
stage "summary"
for s in environment nvidia-smi build tests bench; do
  printf '  %-12s %s\n' "$s" "${STATUS[$s]:-not-run}"
done
[ -f "$OUT/tests-cuda.log" ] && echo "  tests: $(grep -E '[0-9]+ (passed|failed|error|skipped)' "$OUT/tests-cuda.log" | tail -n 1)"
if [ -f "$OUT/bench-cuda.json" ]; then
  "$PY" - "$OUT/bench-cuda.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
print(f"  bench: {len(doc['cases'])} training cases, {len(doc['sgemm'])} SGEMM sizes, "
      f"{doc['meta'].get('seconds')} s, {len(doc['errors'])} failure(s)")
for t in doc.get("targets", []):
    got = "not measured" if t["measured"] is None else f"{t['measured']:.2f}"
    verdict = {True: "MET", False: "NOT MET", None: "-"}[t["met"]]
    print(f"  target: {t['what']}: {got} (>= {t['target']}) {verdict}")
for e in doc["errors"][:20]:
    print(f"  failed: {e}")
EOF
fi
echo "  total $(elapsed) s; files in $OUT"
rc=0
for s in environment build tests bench; do
  case "${STATUS[$s]:-0}" in 0|skipped) ;; *) rc=1 ;; esac
done
exit $rc
