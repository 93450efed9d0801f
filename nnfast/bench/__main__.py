"""python -m nnfast.bench: run the benchmark harness (nnfast/bench/harness.py)."""
import sys

from .harness import main

sys.exit(main(prog="python -m nnfast.bench"))
