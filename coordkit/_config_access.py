"""Typed getters shared by :class:`coordkit.Config` and :class:`coordkit.config.ConfigSnapshot`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._config_schema import ConfigValidationError, coerce
from .errors import NotFoundError

if TYPE_CHECKING:
    from ._config_snapshot import ConfigSnapshot

__all__ = ["TypedGetters"]

D = TypeVar("D")
T = TypeVar("T")
_MISSING: Any = object()


class TypedGetters:
    """``get_as`` and ``get_int``/``get_float``/``get_bool``/``get_str`` over one state."""

    __slots__ = ()

    def _state(self) -> ConfigSnapshot:
        raise NotImplementedError

    def get_as(self, key: str, type_: type[T] | Any, default: Any = _MISSING) -> Any:
        """The value of ``key`` as ``type_`` (anything a schema field may be: ``int``,
        ``list[str]``, a dataclass...). Returns ``default`` when the key is absent (raises
        NotFoundError without one); raises ConfigValidationError when the value does not fit."""
        state = self._state()
        if key not in state:
            if default is _MISSING:
                raise NotFoundError(f"config {state.app!r} has no setting {key!r}")
            return default
        try:
            return coerce(state[key], type_, key.lstrip("/"))
        except ConfigValidationError as exc:
            raise exc.for_app(state.app) from None

    @overload
    def get_int(self, key: str) -> int: ...
    @overload
    def get_int(self, key: str, default: D) -> int | D: ...
    def get_int(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as an int (also from "5" and 5.0); see :meth:`get_as`."""
        return self.get_as(key, int, default)

    @overload
    def get_float(self, key: str) -> float: ...
    @overload
    def get_float(self, key: str, default: D) -> float | D: ...
    def get_float(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a float (ints and numeric strings too); see :meth:`get_as`."""
        return self.get_as(key, float, default)

    @overload
    def get_bool(self, key: str) -> bool: ...
    @overload
    def get_bool(self, key: str, default: D) -> bool | D: ...
    def get_bool(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a bool (also true/false, yes/no, on/off, 1/0); see :meth:`get_as`."""
        return self.get_as(key, bool, default)

    @overload
    def get_str(self, key: str) -> str: ...
    @overload
    def get_str(self, key: str, default: D) -> str | D: ...
    def get_str(self, key: str, default: Any = _MISSING) -> Any:
        """``key`` as a string; a number or other JSON value is given as the text it was
        written as (``1.10`` stays ``"1.10"``)."""
        state = self._state()
        if key in state and not isinstance(state[key], str):
            try:
                return state.text(key)
            except NotFoundError:  # found inside an object stored at a shorter key
                return json.dumps(state[key], ensure_ascii=False)
        return self.get_as(key, str, default)
