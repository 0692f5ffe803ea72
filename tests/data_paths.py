"""Where the test data lives: ``tests/data/`` inside the repository, so a clone needs nothing beside it.

``tests/data/gsm8k/`` is the real GSM8K as OpenAI published it (MIT licence, ``LICENSE`` beside the
files): 7473 train rows, 1319 test rows and the socratic test split.
"""

import os

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
GSM8K_DIR = os.path.join(DATA_DIR, "gsm8k")
