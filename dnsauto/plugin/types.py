"""Shared configuration types: the model base, durations and secrets.

Property names and ``@type`` values are Stalwart's, so the same JSON works in the TOML file and
over the API. Durations accept ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"500ms"`` (and
combinations such as ``"1h30m"``) or integer milliseconds, the JMAP wire form.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from dnsauto.plugin.errors import SecretError

__all__ = [
    "MAX_DURATION",
    "REDACTED",
    "SECRET_FILE_BASE",
    "SECRET_FILE_MAX_BYTES",
    "Duration",
    "Model",
    "OptionalDuration",
    "SecretKey",
    "SecretKeyOptional",
    "SecretText",
    "SecretTextOptional",
    "SecretTextValue",
    "StalwartJsonSchema",
    "StalwartSet",
    "Tagged",
    "format_duration",
    "parse_duration",
    "quoted",
    "reveal",
]

REDACTED = "********"


class Model(BaseModel):
    """Base of every configuration object: camelCase names, unknown keys refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        use_enum_values=True,
        validate_default=True,
    )


class Tagged(Model):
    """A variant of a Stalwart enum object, told apart by its ``@type`` property."""


QUOTE_LIMIT = 80
"""How many characters of a value an error message shows."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 12]}… ({len(str(value))} characters)"


# --- sets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StalwartSet:
    """Marks a ``tuple[T, ...]`` field as one of Stalwart's sets (its ``Map<T>``).

    Stalwart writes a set as a JSON object whose members map to ``true``
    (``{"dkim": true, "spf": true}``; ``false`` or ``null`` leave a member out); dnsauto also
    reads a plain array. It is written in Stalwart's object form in JSON, a tuple in Python.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        members = _enum_members(source)

        def read(value: Any) -> Any:
            return _set_input(value, members)

        return core_schema.no_info_before_validator_function(
            read,
            handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _set_output, info_arg=True
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        array = handler(schema)
        if handler.mode == "serialization":
            return {"type": "object", "additionalProperties": {"const": True}}
        return {
            "anyOf": [
                {
                    "type": "object",
                    "propertyNames": array.get("items", {"type": "string"}),
                    "additionalProperties": {"type": ["boolean", "null"]},
                    "description": "Stalwart's form: each member maps to true",
                },
                array,
            ]
        }


def _enum_members(source: Any) -> tuple[str, ...] | None:
    args = get_args(source)
    item = args[0] if args else None
    if isinstance(item, type) and issubclass(item, Enum):
        return tuple(str(m.value) for m in item)
    return None


def _set_input(value: Any, members: tuple[str, ...] | None) -> Any:
    if not isinstance(value, Mapping):
        return value
    chosen = []
    for key, flag in value.items():
        if flag is None or flag is False:
            continue
        if flag is not True:
            raise ValueError(f"member {quoted(key)} must map to true, false or null")
        if members is not None and key not in members:
            raise ValueError(f"unknown member {quoted(key)}; expected one of {', '.join(members)}")
        chosen.append(key)
    return chosen


def _set_output(value: tuple[Any, ...], info: SerializationInfo) -> Any:
    if info.mode_is_json():
        return {str(getattr(item, "value", item)): True for item in value}
    return value


# --- durations --------------------------------------------------------------------------------

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$")


def parse_duration(value: object) -> timedelta:
    """Read a duration from ``"30s"``-style text or integer milliseconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration must be text like '30s' or integer milliseconds")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _milliseconds(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return _milliseconds(int(text) if len(text) < 20 else math.inf)
        if not _WHOLE.match(text):
            raise ValueError(
                f"{quoted(value)} is not a duration: use e.g. '500ms', '30s', '5m', '1h', '1d'"
            )
        total = sum(float(n) * _UNIT_MS[u] for n, u in _PART.findall(text))
        return _milliseconds(total)
    raise ValueError("a duration must be text like '30s' or integer milliseconds")


MAX_DURATION = timedelta(days=36500)
"""The longest duration of any setting: ``now + MAX_DURATION`` (and sums of a few) stay
dates Python can represent, so what ``config check`` accepts ``run`` can schedule."""


def _milliseconds(value: float) -> timedelta:
    if not value <= MAX_DURATION / timedelta(milliseconds=1):
        raise ValueError(
            f"a duration cannot be longer than {format_duration(MAX_DURATION)} (100 years)"
        )
    return timedelta(milliseconds=round(value))


def format_duration(value: timedelta) -> str:
    """Render a duration in the largest units that express it exactly: ``"1h30m"``."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, ms = divmod(ms, _UNIT_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _serialize_duration(value: timedelta, info: SerializationInfo) -> int | str:
    if info.mode_is_json() and not (info.context or {}).get("durations_as_text"):
        return round(value.total_seconds() * 1000)
    if (info.context or {}).get("durations_as_text"):
        return format_duration(value)
    return round(value.total_seconds() * 1000)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "description": "milliseconds"},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
    ]
}

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(_serialize_duration),
    WithJsonSchema(_DURATION_SCHEMA),
]
OptionalDuration = Annotated[
    timedelta | None,
    BeforeValidator(lambda v: None if v is None else parse_duration(v)),
    PlainSerializer(lambda v, info: None if v is None else _serialize_duration(v, info)),
    WithJsonSchema({"anyOf": [*_DURATION_SCHEMA["anyOf"], {"type": "null"}]}),
]


class StalwartJsonSchema(GenerateJsonSchema):
    """JSON Schema whose defaults are written as the JSON they stand for: durations as integer
    milliseconds, as Stalwart writes them (pydantic writes ISO 8601 ``"PT30S"``, which the
    schema's own pattern refuses)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return round(dft.total_seconds() * 1000)
        return super().encode_default(dft)


# --- secrets ----------------------------------------------------------------------------------


def _redact(value: SecretStr, info: SerializationInfo) -> str:
    # Only the API's object layer asks for the value, to keep it in the state store.
    if (info.context or {}).get("reveal_secrets") is True:
        return value.get_secret_value()
    return REDACTED


class SecretValue(Tagged):
    """A secret value provided directly."""

    type: Literal["Value"] = Field(alias="@type")
    secret: Annotated[SecretStr, PlainSerializer(_redact, return_type=str)]

    def resolve(self) -> str:
        return self.secret.get_secret_value()

    def describe(self) -> str:
        return "the value given in the configuration"


class SecretTextValue(SecretValue):
    """A secret text (a PEM key, a JSON credential) provided directly: Stalwart's ``Text``."""

    type: Literal["Text"] = Field(alias="@type")  # type: ignore[assignment]


class SecretEnvironmentVariable(Tagged):
    """A secret read from an environment variable."""

    type: Literal["EnvironmentVariable"] = Field(alias="@type")
    variable_name: Annotated[str, Field(min_length=1)]

    def resolve(self) -> str:
        value = os.environ.get(self.variable_name)
        if value is None:
            raise SecretError(f"environment variable {self.variable_name} is not set")
        return value

    def describe(self) -> str:
        return f"environment variable {self.variable_name}"


SECRET_FILE_MAX_BYTES = 64 * 1024
"""The largest secret file read: keys and tokens are far smaller."""

SECRET_FILE_BASE = "secret_file_base"
"""The validation context key of the folder relative ``filePath`` values are relative to."""


class SecretFile(Tagged):
    """A secret read from a regular file of at most 64 KiB; one trailing newline is dropped."""

    type: Literal["File"] = Field(alias="@type")
    file_path: Annotated[str, Field(min_length=1)]

    @field_validator("file_path")
    @classmethod
    def _anchor(cls, value: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get(SECRET_FILE_BASE)
        return str(Path(base, value)) if base is not None else value

    def resolve(self) -> str:
        try:
            data = _read_regular_file(self.file_path, SECRET_FILE_MAX_BYTES)
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            )
            raise SecretError(f"cannot read secret file {self.file_path}: {reason}") from None
        return text[:-1] if text.endswith("\n") else text

    def describe(self) -> str:
        return f"file {self.file_path}"


def _read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; OSError with a reason otherwise.

    Opened non-blocking, so a FIFO or a device is refused at once instead of waiting for a
    writer or reading without end (``/dev/zero``).
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(0, "not a regular file")
        data = b""
        while chunk := os.read(descriptor, limit + 1 - len(data)):
            data += chunk
            if len(data) > limit:
                break
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise OSError(0, f"larger than {limit // 1024} KiB")
    return data


class SecretNone(Tagged):
    """No secret."""

    type: Literal["None"] = Field(alias="@type")

    def resolve(self) -> None:
        return None

    def describe(self) -> str:
        return "no secret"


SecretKey = Annotated[
    SecretValue | SecretEnvironmentVariable | SecretFile, Field(discriminator="type")
]
SecretKeyOptional = Annotated[
    SecretNone | SecretValue | SecretEnvironmentVariable | SecretFile,
    Field(discriminator="type"),
]
SecretText = Annotated[
    SecretTextValue | SecretValue | SecretEnvironmentVariable | SecretFile,
    Field(discriminator="type"),
]
"""Stalwart's ``SecretText``: ``Text`` (and, as dnsauto has always read it, ``Value``)."""
SecretTextOptional = Annotated[
    SecretNone | SecretTextValue | SecretValue | SecretEnvironmentVariable | SecretFile,
    Field(discriminator="type"),
]


def reveal(secret: SecretValue | SecretEnvironmentVariable | SecretFile) -> str:
    """Resolve a secret at the moment it is used. Raises :class:`SecretError`."""
    return secret.resolve()


def iter_secrets(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every secret object inside a configuration object, with its dotted path."""
    found: list[tuple[str, Any]] = []
    if isinstance(obj, SecretValue | SecretEnvironmentVariable | SecretFile):
        found.append((path, obj))
    elif isinstance(obj, BaseModel):
        for name, info in type(obj).model_fields.items():
            key = info.alias or name
            found += iter_secrets(getattr(obj, name), f"{path}.{key}" if path else key)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found += iter_secrets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list | tuple):
        for index, value in enumerate(obj):
            found += iter_secrets(value, f"{path}[{index}]")
    return found
