"""A command-line duration in seconds."""

from __future__ import annotations

from typing import Any

import click

from coordkit import ConfigurationError
from coordkit.core.durations import wait_seconds

__all__ = ["WAIT_SECONDS"]


class _Seconds(click.FloatRange):
    """A number of seconds, 0 or more (``inf``: no bound). ``nan`` is refused here, as a
    usage error naming the option: it passes every comparison of FloatRange and would only
    fail later, in the library, under the library's own parameter name."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        try:
            wait_seconds(seconds)  # the library's own check of a wait: it refuses nan
        except ConfigurationError:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds  # as given: inf stays inf, which --wait and its deprecated name tell from "not given"


WAIT_SECONDS = _Seconds(min=0)
