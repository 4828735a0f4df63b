"""deploy/local's scripts import each other by file name: put the directory on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

LOCAL_DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "local"
if str(LOCAL_DEPLOY) not in sys.path:
    sys.path.insert(0, str(LOCAL_DEPLOY))
