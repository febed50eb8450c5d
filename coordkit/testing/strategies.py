"""Hypothesis strategies over what users pass to coordkit: names and values, with the
characters that backends disagree about (C1 controls such as U+0085, U+FFFE, private use,
surrogates, characters beyond U+FFFF), so that a property test can check that every input
is either refused up front, identically on every backend, or stored exactly.

Needs ``hypothesis`` (the ``test`` extra); import this module only from tests.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["AWKWARD_CHARACTERS", "names", "segments", "text_values", "values"]

# Each of these is treated differently by at least one backend or one encoder.
AWKWARD_CHARACTERS = (
    "\x00",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9f",
    "\xa0",
    "\u2028",
    "\ufeff",
    "\ue000",
    "\uf8ff",
    "\ufdd0",
    "\ufff0",
    "\ufffd",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udc80",
    "\U0001f600",
    "\U0010ffff",
    ".",
    "/",
    " ",
    "\\",
    "%",
    "?",
    "#",
    "*",
    "é",
)

_chars = st.one_of(
    st.sampled_from(AWKWARD_CHARACTERS),
    st.characters(codec=None, min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(),  # any code point, surrogates included
)


def segments() -> st.SearchStrategy[str]:
    """One name segment, often plain, often holding an awkward character."""
    return st.one_of(st.text(_chars, min_size=0, max_size=6), st.sampled_from([".", "..", "zookeeper"]))


def names() -> st.SearchStrategy[str]:
    """Names as users might write them: one to three segments, with or without a leading
    ``/``, awkward characters included (many are invalid on purpose)."""
    return st.builds(
        lambda lead, parts: lead + "/".join(parts),
        st.sampled_from(["", "/"]),
        st.lists(segments(), min_size=1, max_size=3),
    )


def text_values() -> st.SearchStrategy[str]:
    """str values, lone surrogates and all."""
    return st.text(_chars, max_size=20)


def values() -> st.SearchStrategy[str | bytes]:
    """Values as str (awkward characters included) or arbitrary bytes."""
    return st.one_of(text_values(), st.binary(max_size=32))
