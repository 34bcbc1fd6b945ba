"""Active config vs new config -> an `UpdatePlan`: per group, per process, per option key.

`diff.diff` gives 4.3's answer (which groups were added, changed or removed) and `reread` and
`update` keep printing exactly that; `UpdatePlan.reload_plan` is that same answer. Beside it the
plan says, for each changed group, which processes were added, removed or changed, and for a
changed one which INI keys differ and whether a running process can take each without a
restart (the option table's `live` column). Pure data: nothing here touches a running process.

Model fields are named back as the INI keys a user wrote (`stdout.maxbytes` is
`stdout_logfile_maxbytes`); two keys come from no option row: `section` (a program became an
fcgi-program or a listener, or moved to another section: always a restart) and the unknown keys
corral keeps verbatim but ignores (always live: nothing reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from corral.config.convert import signal_name
from corral.config.diff import ReloadPlan, diff
from corral.config.model import (
    Config,
    EventListenerConfig,
    FcgiSocketConfig,
    GroupConfig,
    GroupKind,
    LogChannelConfig,
    ProcessConfig,
)
from corral.config.options import options_for
from corral.config.supervision import Supervision

# ProcessConfig field -> the INI key it comes from ('name' is the identity, not a key).
PROCESS_KEYS: dict[str, str] = {
    "program": "section",
    "section": "section",
    "command": "command",
    "process_num": "numprocs_start",
    # not numprocs: a count changed adds or removes processes, the others stay as they are
    # (a command that names %(numprocs)d changes, and says so)
    "priority": "priority",
    "autostart": "autostart",
    "startsecs": "startsecs",
    "startretries": "startretries",
    "autorestart": "autorestart",
    "exitcodes": "exitcodes",
    "stopsignal": "stopsignal",
    "stopwaitsecs": "stopwaitsecs",
    "stopasgroup": "stopasgroup",
    "killasgroup": "killasgroup",
    "user": "user",
    "uid": "user",  # resolved from user=: a changed passwd entry is a changed user
    "redirect_stderr": "redirect_stderr",
    "environment": "environment",
    "directory": "directory",
    "umask": "umask",
    "serverurl": "serverurl",
}
# Supervision fields are the keys' own names (config/supervision.py).
SUPERVISION_KEYS: tuple[str, ...] = tuple(Supervision.__dataclass_fields__)
# OutputKeys field -> key (config/outputkeys.py).
OUTPUT_KEYS: dict[str, str] = {
    "console": "console",
    "console_stderr": "console_stderr",
    "log_timestamps": "log_timestamps",
    "essential": "essential",
    "environment_files": "environment_file",
}
# LogChannelConfig field -> key suffix after 'stdout_' / 'stderr_'.
CHANNEL_KEYS: dict[str, str] = {
    "logfile": "logfile",
    "maxbytes": "logfile_maxbytes",
    "backups": "logfile_backups",
    "capture_maxbytes": "capture_maxbytes",
    "events_enabled": "events_enabled",
    "syslog": "syslog",
}
# Group-level fields: GroupConfig, its fcgi socket and its listener pool.
GROUP_KEYS: dict[str, str] = {"priority": "priority", "kind": "section"}
SOCKET_KEYS: dict[str, str] = {
    "url": "socket",
    "family": "socket",
    "path": "socket",
    "host": "socket",
    "port": "socket",
    "backlog": "socket_backlog",
    "owner": "socket_owner",
    "mode": "socket_mode",
}
LISTENER_KEYS: dict[str, str] = {
    "events": "events",
    "buffer_size": "buffer_size",
    "result_handler": "result_handler",
}
# Keys that exist in no option row.
SECTION_KEY = "section"

_KIND_SECTION = {
    GroupKind.PROGRAM: "program",
    GroupKind.HETEROGENEOUS: "group",
    GroupKind.FCGI: "fcgi-program",
    GroupKind.EVENTLISTENER: "eventlistener",
}


@dataclass(frozen=True)
class KeyChange:
    key: str  # the INI key, e.g. 'stdout_logfile_maxbytes'
    live: bool  # a running process takes the new value without a restart
    old: object  # model values; `value_text` renders them as config text
    new: object


@dataclass(frozen=True)
class ProcessDiff:
    name: str
    action: str  # 'added' | 'removed' | 'changed'
    changes: tuple[KeyChange, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.changes)

    @property
    def live(self) -> bool:
        """A change every key of which a running process takes without a restart."""
        return self.action == "changed" and all(c.live for c in self.changes)


@dataclass(frozen=True)
class GroupDiff:
    name: str
    changes: tuple[KeyChange, ...]  # group-level: priority, section, socket*, listener keys
    processes: tuple[ProcessDiff, ...]  # the new config's order, then the removed ones
    unchanged: tuple[str, ...] = ()  # process names equal in both configs

    def process(self, name: str) -> ProcessDiff | None:
        return next((p for p in self.processes if p.name == name), None)

    @property
    def restarts(self) -> tuple[str, ...]:
        """Processes in both configs that need a new process: a key of their own that is not
        live, or a group-level one (a new socket reaches every process of the group)."""
        if any(not c.live for c in self.changes):
            kept = [p.name for p in self.processes if p.action == "changed"]
            return tuple(kept) + self.unchanged
        return tuple(p.name for p in self.processes if p.action == "changed" and not p.live)

    @property
    def live(self) -> bool:
        """No process of the group needs a restart (some may be added or removed)."""
        return not self.restarts


@dataclass(frozen=True)
class UpdatePlan:
    added: tuple[str, ...] = ()  # group names, sorted
    changed: tuple[GroupDiff, ...] = ()  # sorted by group name
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def reload_plan(self) -> ReloadPlan:
        """4.3's classification, equal to `diff(old, new)`: what reread and update print."""
        return ReloadPlan(self.added, tuple(g.name for g in self.changed), self.removed)

    def group(self, name: str) -> GroupDiff | None:
        return next((g for g in self.changed if g.name == name), None)


def _live(kind: str, key: str) -> bool:
    option = options_for(kind).get(key)
    return option is not None and option.live


def _section_kind(proc: ProcessConfig) -> str:
    return proc.section.partition(":")[0] or "program"


# ready_check forms set up when the child is spawned (a socket in its environment, a pipe fd)
_SET_UP_AT_SPAWN = frozenset({"notify", "fd"})


def _live_change(key: str, old: object, new: object) -> bool:
    """A live key whose particular change still needs a new process."""
    if key == "ready_check":
        return not any(getattr(c, "kind", None) in _SET_UP_AT_SPAWN for c in (old, new))
    return True


def _add(found: dict[str, KeyChange], kind: str, key: str, old: object, new: object) -> None:
    # several fields may map to one key (uid and user): the first difference names it
    if key not in found:
        found[key] = KeyChange(key, _live(kind, key) and _live_change(key, old, new), old, new)


def process_changes(old: ProcessConfig, new: ProcessConfig) -> tuple[KeyChange, ...]:
    """The INI keys whose values differ between two configs of one process, table order."""
    kind = _section_kind(new)
    found: dict[str, KeyChange] = {}
    for field, key in PROCESS_KEYS.items():
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            _add(found, kind, key, a, b)
    for ch in ("stdout", "stderr"):
        a_ch: LogChannelConfig = getattr(old, ch)
        b_ch: LogChannelConfig = getattr(new, ch)
        for field, suffix in CHANNEL_KEYS.items():
            a, b = getattr(a_ch, field), getattr(b_ch, field)
            if a != b:
                _add(found, kind, f"{ch}_{suffix}", a, b)
    for field in SUPERVISION_KEYS:  # corral's keys: one field each, named as the key
        a, b = getattr(old.supervision, field), getattr(new.supervision, field)
        if a != b:
            _add(found, kind, field, a, b)
    for field, key in OUTPUT_KEYS.items():
        a, b = getattr(old.output, field), getattr(new.output, field)
        if a != b:
            _add(found, kind, key, a, b)
    before, after = dict(old.extra), dict(new.extra)
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            found.setdefault(key, KeyChange(key, True, before.get(key), after.get(key)))
    return _in_table_order(kind, found)


def _in_table_order(kind: str, found: dict[str, KeyChange]) -> tuple[KeyChange, ...]:
    order = {name: i for i, name in enumerate(options_for(kind))}
    order[SECTION_KEY] = -1
    return tuple(sorted(found.values(), key=lambda c: order.get(c.key, len(order))))


def _sub_changes(
    found: dict[str, KeyChange],
    kind: str,
    keys: dict[str, str],
    old: FcgiSocketConfig | EventListenerConfig | None,
    new: FcgiSocketConfig | EventListenerConfig | None,
) -> None:
    if old is None or new is None:
        return  # one side is another kind of group: 'section' already says so
    for field, key in keys.items():
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            _add(found, kind, key, a, b)


def group_changes(old: GroupConfig, new: GroupConfig) -> tuple[KeyChange, ...]:
    """Group-level keys that differ (not those of the member processes)."""
    kind = _KIND_SECTION[new.kind]
    found: dict[str, KeyChange] = {}
    for field, key in GROUP_KEYS.items():
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            _add(found, kind, key, a, b)
    _sub_changes(found, kind, SOCKET_KEYS, old.fcgi_socket, new.fcgi_socket)
    _sub_changes(found, kind, LISTENER_KEYS, old.listener, new.listener)
    return _in_table_order(kind, found)


def group_diff(old: GroupConfig, new: GroupConfig) -> GroupDiff:
    before = {p.name: p for p in old.processes}
    after = {p.name: p for p in new.processes}
    changes = group_changes(old, new)
    diffs: list[ProcessDiff] = []
    unchanged: list[str] = []
    for proc in new.processes:
        prev = before.get(proc.name)
        if prev is None:
            diffs.append(ProcessDiff(proc.name, "added"))
        elif prev == proc or not (changes_of := process_changes(prev, proc)):
            unchanged.append(proc.name)
        else:
            diffs.append(ProcessDiff(proc.name, "changed", changes_of))
    diffs += [ProcessDiff(p.name, "removed") for p in old.processes if p.name not in after]
    if not changes and not diffs and old != new:
        # unequal, yet nothing pairs by name (a program listed twice in one [group:x]):
        # what cannot be classified restarts
        names = (tuple(p.name for p in old.processes), tuple(p.name for p in new.processes))
        changes = (KeyChange("programs", False, *names),)
    return GroupDiff(new.name, changes, tuple(diffs), tuple(unchanged))


def plan_update(old: Config, new: Config) -> UpdatePlan:
    """The whole plan from the active config to the new one (groups only: daemon-wide
    sections change on a full reload)."""
    coarse = diff(old, new)
    before = {g.name: g for g in old.groups}
    after = {g.name: g for g in new.groups}
    return UpdatePlan(
        added=coarse.added,
        changed=tuple(group_diff(before[n], after[n]) for n in coarse.changed),
        removed=coarse.removed,
        unchanged=tuple(sorted(n for n in after.keys() & before.keys() if n not in coarse.changed)),
    )


def value_text(key: str, value: object) -> str:
    """A model value as config text, for messages: `autorestart unexpected -> true`."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):  # AutoRestart, GroupKind: the text that selects them
        return str(value.value)
    if key == "stopsignal" and isinstance(value, int):
        return signal_name(value).removeprefix("SIG")
    if key in ("umask", "socket_mode") and isinstance(value, int):
        return f"{value:03o}"
    if key == "socket_owner" and isinstance(value, tuple):
        return ":".join(str(v) for v in value)
    if isinstance(value, tuple):
        if all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return ",".join(f"{k}={v}" for k, v in value)
        return ",".join(str(v) for v in value)
    return str(value)
