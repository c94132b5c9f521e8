"""audio-unlearn: machine unlearning for speech and audio models."""

import os
import sys

# On few cores torch's OpenMP threads spin-wait between parallel regions, which slowed
# CPU runs about 5x on 2-core machines. Passive waiting must be chosen before torch loads.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
