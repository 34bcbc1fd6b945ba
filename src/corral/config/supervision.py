"""corral's own program keys beyond 4.3: readiness, dependencies, health, restart policy.

They are collected in one frozen `Supervision` per program section (every process of the
section shares it), so a program that uses none of them costs one shared default object.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Literal

from corral.config.checks import Check, parse_check

# startretries = unlimited: no number of failed starts reaches it
UNLIMITED = sys.maxsize

Condition = Literal["ready", "started", "exited"]
CONDITIONS: tuple[Condition, ...] = ("ready", "started", "exited")
HealthAction = Literal["restart", "stop", "none"]
HEALTH_ACTIONS: tuple[HealthAction, ...] = ("restart", "stop", "none")


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str  # a [program:x] / [fcgi-program:x] name, or a [group:x] name
    condition: Condition

    def __str__(self) -> str:
        return f"{self.name}:{self.condition}"


@dataclass(frozen=True, slots=True)
class Supervision:
    ready_check: Check | None = None
    ready_timeout: float = 60.0
    ready_interval: float = 1.0
    depends_on: tuple[Dependency, ...] = ()
    health_check: Check | None = None
    health_interval: float = 10.0
    health_timeout: float = 5.0
    health_retries: int = 3
    health_action: HealthAction = "restart"
    watchdog_sec: float = 0.0
    backoff: str | float = "linear"  # 'linear', 'exponential', or a fixed delay in seconds
    backoff_max: float = 60.0
    restart_delay: float = 0.0

    def backoff_delay(self, tries: int) -> float:
        """Seconds to wait after the `tries`-th failed start in a row (tries >= 1)."""
        if self.backoff == "linear":
            delay = float(tries)  # 4.3's 1 s, 2 s, 3 s ...
        elif self.backoff == "exponential":
            delay = 2.0 ** min(tries - 1, 62)
        else:
            delay = float(self.backoff)
        return min(delay, self.backoff_max)


DEFAULT_SUPERVISION = Supervision()


# --- converters (each raises ValueError with the message the user sees) ------------------


def ready_check(text: str) -> Check | None:
    return parse_check(text) if text.strip() else None


def health_check(text: str) -> Check | None:
    return parse_check(text, probes_only=True) if text.strip() else None


def seconds(text: str) -> float:
    """A non-negative number of seconds (fractions allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text.strip()!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"seconds must be a number >= 0: {text.strip()!r}")
    return value


def positive_seconds(text: str) -> float:
    value = seconds(text)
    if value <= 0:
        raise ValueError(f"seconds must be greater than 0: {text.strip()!r}")
    return value


def retries(text: str) -> int:
    """startretries: an integer as in 4.3, or `unlimited`."""
    if text.strip().lower() == "unlimited":
        return UNLIMITED
    return int(text)


def positive_integer(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more: {text.strip()!r}")
    return value


def backoff(text: str) -> str | float:
    word = text.strip().lower()
    if word in ("linear", "exponential"):
        return word
    try:
        return positive_seconds(word)
    except ValueError:
        raise ValueError(
            f"backoff must be linear, exponential or a number of seconds: {text.strip()!r}"
        ) from None


def health_action(text: str) -> HealthAction:
    word = text.strip().lower()
    for action in HEALTH_ACTIONS:
        if word == action:
            return action
    raise ValueError(f"health_action must be restart, stop or none: {text.strip()!r}")


def dependencies(text: str) -> tuple[Dependency, ...]:
    """`db, migrate:exited, cache:started`: names with an optional condition (default ready).
    Names are checked against the config once every section is read."""
    deps: list[Dependency] = []
    seen: set[str] = set()
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, cond = item.partition(":")
        name, cond = name.strip(), cond.strip().lower()
        if not name:
            raise ValueError(f"depends_on entry without a program name: {item!r}")
        if sep and cond not in CONDITIONS:
            raise ValueError(
                f"unknown condition {cond!r} in depends_on entry {item!r} "
                "(use ready, started or exited)"
            )
        if name in seen:
            raise ValueError(f"{name!r} is named twice in depends_on")
        seen.add(name)
        deps.append(Dependency(name, condition_of(cond) if sep else "ready"))
    return tuple(deps)


def condition_of(word: str) -> Condition:
    for cond in CONDITIONS:
        if word == cond:
            return cond
    raise ValueError(word)
