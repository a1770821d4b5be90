import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploykit.manifest.subjects import check_subject, collide, is_subset


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.*", "a.b.c", False),
        ("*.b", "a.*", True),
        (">", "x.y", True),
        ("a.b.>", "a.c.>", False),
    ],
)
def test_collide(a: str, b: str, expected: bool) -> None:
    assert collide(a, b) is expected
    assert collide(b, a) is expected


@pytest.mark.parametrize(
    ("inner", "outer", "expected"),
    [
        ("a.b", "a.>", True),
        ("a.b.c", "a.>", True),
        ("a", "a.>", False),
        ("a.*", "a.>", True),
        ("a.>", "a.*", False),
        ("a.b", "a.*", True),
        ("a.*", "a.b", False),
        ("a.>", "a.>", True),
        ("a.b", "a.b", True),
        ("a.b", "a.b.c", False),
    ],
)
def test_is_subset(inner: str, outer: str, expected: bool) -> None:
    assert is_subset(inner, outer) is expected


@pytest.mark.parametrize(
    "bad", ["", "a..b", ".a", "a.", "a b", "a.>.b", "a.b*", "$JS.API.x", "_INBOX.x", "a.\tb"]
)
def test_bad_subjects_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_subject(bad)


_token = st.sampled_from(["a", "b", "c", "*"])
_subject = st.lists(_token, min_size=1, max_size=4).map(".".join) | st.lists(
    _token, min_size=0, max_size=3
).map(lambda t: ".".join([*t, ">"]))
_literal = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5).map(".".join)


def _matches(pattern: str, subject: str) -> bool:
    return is_subset(subject, pattern)


@given(_subject, _subject, st.lists(_literal, min_size=1, max_size=30))
def test_subset_and_collide_agree_with_matching(a: str, b: str, samples: list[str]) -> None:
    """If a ⊆ b, every literal that a matches, b matches; if a literal matches both, they collide."""
    for subject in samples:
        if is_subset(a, b) and _matches(a, subject):
            assert _matches(b, subject)
        if _matches(a, subject) and _matches(b, subject):
            assert collide(a, b)
