"""Where the shared test data lives: ``shared/`` beside the repository (as CI lays it out)."""

import os

SHARED = os.environ.get("CRUCIBLE_SHARED") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "shared")
)
GSM8K_DIR = os.path.join(SHARED, "data", "gsm8k")
