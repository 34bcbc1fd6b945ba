"""Supervisor's main-log levels: the one list of names, numbers and line codes.

The config converter, the main log and corrald's usage text all read it here. It imports
nothing, so corralctl could too.
"""

from __future__ import annotations

# name -> number, most severe first (the order the usage text lists them in)
LEVELS: dict[str, int] = {
    "critical": 50,
    "error": 40,
    "warn": 30,
    "info": 20,
    "debug": 10,
    "trace": 5,
    "blather": 3,
}
LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)
# number -> the four letters a main log line carries
LEVEL_CODES: dict[int, str] = {
    50: "CRIT",
    40: "ERRO",
    30: "WARN",
    20: "INFO",
    10: "DEBG",
    5: "TRAC",
    3: "BLAT",
}
# Accepted from corral's own callers only; config text takes the names above (as 4.3).
LEVEL_ALIASES: dict[str, str] = {"warning": "warn"}
# 'critical, error, warn, info, debug, trace or blather'
LEVELS_TEXT = ", ".join(LEVEL_NAMES[:-1]) + " or " + LEVEL_NAMES[-1]


def level_number(name: str) -> int:
    """Numeric level of a level name (any case, aliases allowed); ValueError if unknown."""
    key = name.lower()
    key = LEVEL_ALIASES.get(key, key)
    try:
        return LEVELS[key]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}") from None
