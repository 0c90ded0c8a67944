"""Checks for plain dataclasses that pydantic validates, written without importing pydantic.

Most of bench's input models are pydantic models on foundation.models.Strict. A few types are
also built in code on paths that must start fast: the gate's rules are the first of them
(`bench gate` with its default rules validates nothing, and loading pydantic's BaseModel
costs about a third of a second on a small host). Those types are frozen stdlib dataclasses
with `STRICT` as their pydantic config and `Check` in their annotations. Nothing happens
when such a dataclass is made in code; pydantic reads the checks when it first validates
one (a run config's section, a rules file) and applies them with the same strictness as
Strict's models: unknown keys are errors, numbers are finite and never booleans.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

BOOLEAN_FOR_NUMBER = "boolean_for_number"  # the error type, for foundation.models.describe_errors
BOOLEAN_MESSAGE = "expected a number, not true or false"

# __pydantic_config__ of each such dataclass; a ConfigDict is a plain dict
STRICT: dict[str, Any] = {"extra": "forbid", "allow_inf_nan": False}


class Check:
    """Annotated metadata for a dataclass field, applied only when pydantic validates it.

    `number`: refuse booleans (pydantic would take true as 1); `after`: a function of the
    validated value that returns it or raises ValueError; `byte_size`: an int field that also
    takes a size with its unit ("512MiB", "256M": pydantic's ByteSize); the keywords are
    pydantic Field's constraints (gt, le, min_length, discriminator...).
    """

    def __init__(self, *, number: bool = False, after: Callable[[Any], Any] | None = None,
                 byte_size: bool = False, **constraints: Any) -> None:
        self.number = number
        self.after = after
        self.byte_size = byte_size
        self.constraints = constraints

    def __repr__(self) -> str:
        return (f"Check(number={self.number}, after={self.after}, byte_size={self.byte_size}, "
                f"**{self.constraints})")

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import ByteSize, Field
        from pydantic_core import PydanticCustomError, core_schema

        source = ByteSize if self.byte_size else source
        target = Annotated[source, Field(**self.constraints)] if self.constraints else source
        schema = handler(target)
        if self.after is not None:
            schema = core_schema.no_info_after_validator_function(self.after, schema)
        if self.number:
            def refuse_booleans(value: Any) -> Any:
                if isinstance(value, bool):
                    raise PydanticCustomError(BOOLEAN_FOR_NUMBER, BOOLEAN_MESSAGE)
                return value

            schema = core_schema.no_info_before_validator_function(refuse_booleans, schema)
        return schema
