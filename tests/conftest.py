import os
import sys

# Run against the checkout (build with `python setup.py build_ext --inplace`) or an install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
