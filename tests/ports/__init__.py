"""Small PyTorch programs, written the way PyTorch's examples and tutorials write them, that
receive their `torch` modules as arguments so the same source runs on torch and on nnfast."""
import os
import sys

# The programs import their data helpers (_digits, _corpus) the way a script in this folder
# would, so that each file also runs on its own: `python tests/ports/vae.py [--nnfast]`.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
