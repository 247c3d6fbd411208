"""Import ``rewards`` from this checkout even when the editable install is stale.

An editable install made before ``rewards/__init__.py`` existed maps ``rewards`` to a namespace package, which
hides the registry; putting the repository root first on ``sys.path`` makes the real package win.
"""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
