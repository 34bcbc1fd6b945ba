"""ConfigError: the one error the config layer raises, in a module that imports nothing.

It lives apart from `model.py` so `corralctl`, which reads only [supervisorctl], can catch it
without loading the daemon's model (18 dataclasses, ~15 ms).
"""

from __future__ import annotations


class ConfigError(Exception):
    """A config that cannot be used. Carries where, so the user can fix it."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        section: str | None = None,
        *,
        located: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.section = section
        # The message already names file and line (INI syntax errors, worded as 4.3's):
        # file and line stay on the error for callers, but are not appended a second time.
        self.located = located

    def __str__(self) -> str:
        if self.located:
            return self.message
        where = []
        if self.section is not None:
            where.append(f"in section '{self.section}'")
        loc = []
        if self.file is not None:
            loc.append(f"file: '{self.file}'")
        if self.line is not None:
            loc.append(f"line: {self.line}")
        if loc:
            where.append("(" + ", ".join(loc) + ")")
        return " ".join([self.message, *where])
