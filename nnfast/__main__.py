"""`python -m nnfast ...`: the nnfast command (nnfast/cli.py)."""
import sys

from .cli import main

sys.exit(main())
