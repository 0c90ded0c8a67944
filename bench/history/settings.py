"""The run config's `history:` section: where `bench run` records, and whether it must."""

from __future__ import annotations

from pydantic import Field, field_serializer, field_validator
from pydantic_core import PydanticCustomError

from bench.history import DEFAULT
from bench.history.urls import check_store, without_password
from foundation.errors import ConfigError
from foundation.models import SECRET_VALUE, Strict


class HistoryConfig(Strict):
    store: str = Field(DEFAULT, description="`default` (the per-user SQLite file), a SQLite "
                       "file path, a URL (sqlite:///PATH, postgresql://USER@HOST/DB), or "
                       "`none` (record nowhere); a password in the URL is used, never written "
                       "(or leave it out: $PGPASSWORD, $PGPASSFILE, ?passfile=PATH)")
    required: bool = Field(False, description="exit 1 when the run cannot be recorded (the "
                           "results directory is kept either way)")

    @field_validator("store")
    @classmethod
    def _well_formed(cls, store: str) -> str:
        """A malformed URL is refused when the config loads, before a run starts."""
        try:
            return check_store(store)
        except ConfigError as error:  # said without the URL, which may hold a password
            raise PydanticCustomError(SECRET_VALUE, "{problem}", {"problem": str(error)}) from None

    @field_serializer("store")
    def _without_password(self, store: str) -> str:
        """The manifest keeps the config as dumped here: the URL without its password."""
        return without_password(store)
