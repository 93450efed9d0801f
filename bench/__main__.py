"""python -m bench (in a source checkout): nnfast.bench's harness, its results recorded in
bench/results/ rather than under the current directory. See bench/README.md."""
import os
import sys

from nnfast.bench.harness import main

sys.exit(main(prog="python -m bench",
              default_out=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")))
