"""``python -m rnnkit`` (what ``torchrun -m rnnkit train ...`` starts in every process)."""

import sys

from .cli import main

sys.exit(main())
