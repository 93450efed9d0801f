"""python -m bench: run the training-step benchmark (see bench/step.py for options)."""
from .step import main

main()
