"""python -m bench: run the benchmark harness (bench/harness.py; see bench/README.md)."""
import sys

from .harness import main

sys.exit(main())
