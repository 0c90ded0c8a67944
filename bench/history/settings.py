"""The run config's `history:` section: where `bench run` records, and whether it must."""

from __future__ import annotations

from pydantic import Field

from bench.history import DEFAULT
from foundation.models import Strict


class HistoryConfig(Strict):
    store: str = Field(DEFAULT, description="`default` (the per-user SQLite file), a SQLite "
                       "file path, a URL (sqlite:///PATH, postgresql://USER@HOST/DB), or "
                       "`none` (record nowhere)")
    required: bool = Field(False, description="exit 1 when the run cannot be recorded (the "
                           "results directory is kept either way)")
