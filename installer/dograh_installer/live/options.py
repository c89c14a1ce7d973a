"""Options of ``doctor --live``, as the CLI passes them (None: use the default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class LiveOptions:
    url: Optional[str] = None
    connections: Optional[int] = None
    ws_path: Optional[str] = None
    concurrency: Optional[int] = None
    hold: Optional[float] = None
    idle_check: Optional[float] = None
    timeout: Optional[float] = None
