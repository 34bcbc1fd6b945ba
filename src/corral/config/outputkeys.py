"""corral's console, log time stamp, essential and environment-file keys (container mode).

Program sections that set none of them share the defaults below, so a config of thousands
of plain programs pays nothing for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from corral.config.envfile import EnvFile, parse_env_files

ConsoleFormat = Literal["prefixed", "json", "raw"]
CONSOLE_FORMATS: tuple[ConsoleFormat, ...] = ("prefixed", "json", "raw")
ConsoleStream = Literal["stdout", "stderr"]

# The program keys of this module, by name (build.py reads them only when one is set).
PROGRAM_KEYS = ("console", "console_stderr", "log_timestamps", "essential", "environment_file")


@dataclass(frozen=True, slots=True)
class OutputKeys:
    console: bool = True  # copy this program's lines to the console (when it is on)
    console_stderr: ConsoleStream = "stdout"  # where its stderr lines go on the console
    log_timestamps: bool = False  # an RFC 3339 time in front of each line in its log files
    essential: bool = False  # its end for good ends the daemon, with its exit code
    environment_files: tuple[EnvFile, ...] = ()


DEFAULT_OUTPUT_KEYS = OutputKeys()


def console_format(text: str) -> ConsoleFormat:
    value = text.strip().lower()
    for name in CONSOLE_FORMATS:
        if value == name:
            return name
    raise ValueError(f"console_format must be prefixed, json or raw, not {text.strip()!r}")


def console_stream(text: str) -> ConsoleStream:
    value = text.strip().lower()
    if value == "stdout":
        return "stdout"
    if value == "stderr":
        return "stderr"
    raise ValueError(f"console_stderr must be stdout or stderr, not {text.strip()!r}")


def env_files(text: str) -> tuple[EnvFile, ...]:
    return parse_env_files(text)
