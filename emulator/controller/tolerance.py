"""What a probe's output must satisfy: a value, a range, a regex, optionally at a JSONPath.

    tolerance: {value: running}                          # the output equals it
    tolerance: {range: [0, 1]}                           # a number within (inclusive)
    tolerance: {regex: "^2\\.27"}                        # the text matches
    tolerance: {jsonpath: "$.scale_unit", value: running}
    tolerance: {jsonpath: "$.nodes[?(@.status != 'running')]", count: [0, 1]}

With a JSONPath every match must satisfy the check (and there must be one, unless ``count``
allows none); ``count`` bounds the number of matches instead.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as _parse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


@functools.lru_cache(maxsize=512)
def jsonpath_parse(expression: str) -> Any:
    """A parsed JSONPath, cached (jsonpath-ng builds its parser tables on every parse)."""
    return _parse(expression)


def _compiles(v: str) -> str:
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return v


#: Text that must be a regular expression (a tolerance's ``regex``, a step's ``fails-with``).
Regex = Annotated[str, AfterValidator(_compiles)]


class Tolerance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jsonpath: str | None = Field(None, description="where in the output to look")
    value: Any = Field(None, description="the output (or each match) equals it")
    range: tuple[float, float] | None = Field(None, description="inclusive bounds of a number")
    regex: Regex | None = Field(None, description="the text matches (re.search)")
    count: tuple[int, int] | None = Field(None, description="JSONPath: bounds on the matches")

    @field_validator("jsonpath")
    @classmethod
    def _parses(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                jsonpath_parse(v)
            except (JsonPathParserError, Exception) as exc:
                raise ValueError(f"not a JSONPath expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_check(self) -> Tolerance:
        given = [
            k
            for k in ("value", "range", "regex", "count")
            if getattr(self, k) is not None or (k == "value" and k in self.model_fields_set)
        ]
        if len(given) != 1:
            raise ValueError(
                "a tolerance needs exactly one of value, range, regex, count "
                f"(given: {', '.join(given) or 'none'})"
            )
        if self.count is not None and self.jsonpath is None:
            raise ValueError("count needs a jsonpath")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)}: the low bound is above the high one")
        return self

    def describe(self) -> str:
        where = f"{self.jsonpath} " if self.jsonpath else ""
        if self.count is not None:
            return f"{where}matches {self.count[0]}..{self.count[1]} times"
        if self.range is not None:
            return f"{where}in [{self.range[0]}, {self.range[1]}]"
        if self.regex is not None:
            return f"{where}matches /{self.regex}/"
        return f"{where}== {self.value!r}"

    def check(self, output: Any) -> tuple[bool, str]:
        """(satisfied, what was seen)."""
        if self.jsonpath is None:
            found = [output]
        else:
            found = [m.value for m in jsonpath_parse(self.jsonpath).find(output)]
        if self.count is not None:
            ok = self.count[0] <= len(found) <= self.count[1]
            return ok, f"{len(found)} match(es): {_short(found)}"
        if not found:
            return False, f"nothing at {self.jsonpath}"
        return all(self._one(v) for v in found), _short(found if len(found) > 1 else found[0])

    def _one(self, v: Any) -> bool:
        if self.range is not None:
            return isinstance(v, int | float) and self.range[0] <= v <= self.range[1]
        if self.regex is not None:
            return re.search(self.regex, str(v)) is not None
        return bool(v == self.value)


def _short(v: Any, limit: int = 300) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."
