"""Request field types that accept exactly what their JSON Schema says.

Pydantic's lax mode turns `true` into 1 and `"3"` into 3 (the schema says integer, so both
should be refused); its strict mode refuses `3.0`, which JSON Schema counts as an integer.
`JSON_NUMBER` sits in between: JSON numbers only (no booleans, no strings). Put it after the
field's constraints (`Annotated[int, Field(ge=1), JSON_NUMBER]`) so the schema keeps them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator, StrictBool


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


JSON_NUMBER = BeforeValidator(_json_number)
"""For int and float fields: 3 or 3.0, never `true` or "3"."""
JsonBool = StrictBool
"""`true` or `false`, never 0, 1 or "yes"."""
