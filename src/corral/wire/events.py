"""Event names, their hierarchy, and the exact text Supervisor's listeners read (surface 6).

An event reaches a listener as one header line and a payload:

    ver:3.0 server:<id> serial:<n> pool:<p> poolserial:<n> eventname:<T> len:<n>\\n<payload>

`len` is the number of BYTES of the UTF-8 payload. Supervisor 4.3 counts characters, which
makes a listener that reads `len` bytes lose sync on any non-ASCII payload; for ASCII (nearly
all real traffic) the two agree. Payload builders return `str`; `encode()` gives the bytes.
"""

from __future__ import annotations

# --- names and hierarchy ----------------------------------------------------------------

# Every event type and its parent; subscribing to a type receives all its descendants.
PARENT: dict[str, str | None] = {
    "EVENT": None,
    "PROCESS_STATE": "EVENT",
    "PROCESS_STATE_STOPPED": "PROCESS_STATE",
    "PROCESS_STATE_STARTING": "PROCESS_STATE",
    "PROCESS_STATE_RUNNING": "PROCESS_STATE",
    "PROCESS_STATE_BACKOFF": "PROCESS_STATE",
    "PROCESS_STATE_STOPPING": "PROCESS_STATE",
    "PROCESS_STATE_EXITED": "PROCESS_STATE",
    "PROCESS_STATE_FATAL": "PROCESS_STATE",
    "PROCESS_STATE_UNKNOWN": "PROCESS_STATE",
    "REMOTE_COMMUNICATION": "EVENT",
    "PROCESS_LOG": "EVENT",
    "PROCESS_LOG_STDOUT": "PROCESS_LOG",
    "PROCESS_LOG_STDERR": "PROCESS_LOG",
    "PROCESS_COMMUNICATION": "EVENT",
    "PROCESS_COMMUNICATION_STDOUT": "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR": "PROCESS_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE": "EVENT",
    "SUPERVISOR_STATE_CHANGE_RUNNING": "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_STOPPING": "SUPERVISOR_STATE_CHANGE",
    "TICK": "EVENT",
    "TICK_5": "TICK",
    "TICK_60": "TICK",
    "TICK_3600": "TICK",
    "PROCESS_GROUP": "EVENT",
    "PROCESS_GROUP_ADDED": "PROCESS_GROUP",
    "PROCESS_GROUP_REMOVED": "PROCESS_GROUP",
}

ABSTRACT = frozenset(name for name in PARENT if name in set(PARENT.values()))
CONCRETE = frozenset(name for name in PARENT if name not in ABSTRACT)

# TICK_<n>: n is the period in seconds.
TICK_PERIODS: dict[str, int] = {"TICK_5": 5, "TICK_60": 60, "TICK_3600": 3600}

# The process states that have a PROCESS_STATE_<name> event.
PROCESS_STATE_NAMES = (
    "STOPPED",
    "STARTING",
    "RUNNING",
    "BACKOFF",
    "STOPPING",
    "EXITED",
    "FATAL",
    "UNKNOWN",
)


def is_known(name: str) -> bool:
    return name in PARENT


def lineage(name: str) -> tuple[str, ...]:
    """The type itself then its ancestors up to EVENT; () for an unknown name."""
    out: list[str] = []
    current: str | None = name if name in PARENT else None
    while current is not None:
        out.append(current)
        current = PARENT[current]
    return tuple(out)


def matches(subscribed: str, event_name: str) -> bool:
    """Does a subscription to `subscribed` receive events of type `event_name`?"""
    return subscribed in lineage(event_name)


def descendants(name: str) -> frozenset[str]:
    """The concrete types a subscription to `name` receives."""
    return frozenset(t for t in CONCRETE if name in lineage(t))


# --- envelope -----------------------------------------------------------------------------

VERSION = "3.0"


def encode(payload: str) -> bytes:
    # Lone surrogates can only come from undecodable file names and the like; keep the bytes.
    return payload.encode("utf-8", "surrogateescape")


def header(
    server: str, serial: int, pool: str, poolserial: int, eventname: str, length: int
) -> str:
    """The header line, newline included; `length` is the payload size in bytes."""
    return (
        f"ver:{VERSION} server:{server} serial:{serial} pool:{pool} "
        f"poolserial:{poolserial} eventname:{eventname} len:{length}\n"
    )


def envelope(
    server: str, serial: int, pool: str, poolserial: int, eventname: str, body: bytes
) -> bytes:
    """Header and payload bytes exactly as written to a listener's stdin."""
    head = header(server, serial, pool, poolserial, eventname, len(body))
    return head.encode("utf-8", "surrogateescape") + body


def parse_header(line: str) -> dict[str, str]:
    """`key:value` tokens of a header line (what childutils.get_headers does)."""
    return dict(tok.split(":", 1) for tok in line.split())


# --- payloads -------------------------------------------------------------------------------


def decode_data(data: bytes) -> str:
    """Child output as text; bytes that are not UTF-8 are shown as a bytes repr, as 4.3 does."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"


def process_state_payload(
    state: str,
    processname: str,
    groupname: str,
    from_state: str,
    *,
    tries: int = 0,
    pid: int = 0,
    expected: bool = True,
) -> str:
    """PROCESS_STATE_<state>: the common fields then the ones that state carries."""
    parts = [f"processname:{processname}", f"groupname:{groupname}", f"from_state:{from_state}"]
    if state in ("STARTING", "BACKOFF"):
        parts.append(f"tries:{tries}")
    elif state == "EXITED":
        parts.append(f"expected:{int(expected)}")
        parts.append(f"pid:{pid}")
    elif state in ("RUNNING", "STOPPING", "STOPPED"):
        parts.append(f"pid:{pid}")
    elif state not in ("FATAL", "UNKNOWN"):
        raise ValueError(f"no PROCESS_STATE event for state {state!r}")
    return " ".join(parts)


def process_log_payload(
    processname: str, groupname: str, pid: int, channel: str, data: bytes
) -> str:
    """PROCESS_LOG_STDOUT/STDERR: one chunk of output."""
    return (
        f"processname:{processname} groupname:{groupname} pid:{pid} channel:{channel}\n"
        f"{decode_data(data)}"
    )


def process_communication_payload(processname: str, groupname: str, pid: int, data: bytes) -> str:
    """PROCESS_COMMUNICATION_STDOUT/STDERR: the text between the capture tokens."""
    return f"processname:{processname} groupname:{groupname} pid:{pid}\n{decode_data(data)}"


def remote_communication_payload(type_: str, data: str) -> str:
    """REMOTE_COMMUNICATION, from supervisor.sendRemoteCommEvent(type, data)."""
    return f"type:{type_}\n{data}"


def supervisor_state_payload() -> str:
    """SUPERVISOR_STATE_CHANGE_RUNNING/STOPPING carry nothing."""
    return ""


def tick_payload(when: int) -> str:
    """TICK_<n>: the period boundary crossed, epoch seconds."""
    return f"when:{when}"


def process_group_payload(groupname: str) -> str:
    """PROCESS_GROUP_ADDED/REMOVED (the trailing newline is part of it)."""
    return f"groupname:{groupname}\n"


def log_event_name(channel: str) -> str:
    return "PROCESS_LOG_STDERR" if channel == "stderr" else "PROCESS_LOG_STDOUT"


def communication_event_name(channel: str) -> str:
    return "PROCESS_COMMUNICATION_STDERR" if channel == "stderr" else "PROCESS_COMMUNICATION_STDOUT"
