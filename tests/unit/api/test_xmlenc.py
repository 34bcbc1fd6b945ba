"""The fast response encoder writes exactly what xmlrpc.client.dumps writes."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.api.xmlenc import dumps_response

# what XML-RPC can carry in a string: XML 1.0 characters
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r").filter(
        lambda c: c in "\t\n" or ord(c) >= 0x20
    )
)
scalars = (
    text
    | st.integers(min_value=-(2**31), max_value=2**31 - 1)
    | st.booleans()
    | st.floats(allow_nan=False)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


def stdlib(value: object) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")


@given(values)
def test_identical_to_the_standard_library(value: object) -> None:
    assert dumps_response(value) == stdlib(value)


def test_a_process_info_list() -> None:
    info = {"name": "a&b", "group": "<g>", "pid": 42, "ok": True, "description": "pid 42"}
    assert dumps_response([info, info]) == stdlib([info, info])


def test_too_large_ints_are_refused_like_the_standard_library() -> None:
    with pytest.raises(OverflowError):
        dumps_response(2**31)
