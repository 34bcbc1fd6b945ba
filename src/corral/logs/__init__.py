"""Log files: child output capture, the sinks it goes to, rotation, reading by offset,
the main log."""

from corral.logs.capture import InputPipe, OutputPump, StdinClosedError
from corral.logs.mainlog import MainLog
from corral.logs.rotating import RotatingFile
from corral.logs.sink import CallbackSink, Dropped, Sink
from corral.logs.tail import BadArguments, NoLogFile, ReadFailed, follow, read_log, tail_log

__all__ = [
    "BadArguments",
    "CallbackSink",
    "Dropped",
    "InputPipe",
    "MainLog",
    "NoLogFile",
    "OutputPump",
    "ReadFailed",
    "RotatingFile",
    "Sink",
    "StdinClosedError",
    "follow",
    "read_log",
    "tail_log",
]
