"""Result handlers for the pool tests, loaded by 'module:callable' like a user's would be."""

from __future__ import annotations


class RejectEvent(Exception):  # matched by name, like supervisor's
    pass


def reject_unless_yes(event: object, result: bytes) -> None:
    if result != b"yes":
        raise RejectEvent(result)


def explode(event: object, result: bytes) -> None:
    raise RuntimeError("handler bug")


class Nested:
    @staticmethod
    def accept_all(event: object, result: bytes) -> None:
        return None
