"""User-ID rules: what an agent typed becomes `user@domain`, or a coded refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.errors import IdentityError
from kiosk.identity import BAD_CHARACTER, FORMULA_START, is_host_name, normalise_user_id

CASES = [
    # typed, option domain, default domain, append, result or error code
    ("mai@corp.example.au", "", "", True, "mai@corp.example.au"),
    ("  mai@corp.example.au\t", "", "", True, "mai@corp.example.au"),
    ("Mai.Nguyen@Corp.Example.AU", "", "", True, "Mai.Nguyen@corp.example.au"),
    ("mai@corp.example.au", "other.example", "dflt.example", True, "mai@corp.example.au"),
    ("mai", "", "corp.example.au", True, "mai@corp.example.au"),
    ("mai", "Sales.Example.AU", "corp.example.au", True, "mai@sales.example.au"),
    ("mai", "@sales.example.au", "", True, "mai@sales.example.au"),
    ("mai", "sales.example.au", "", False, "mai@sales.example.au"),
    ("mai", "", "corp.example.au", False, "needs_domain"),
    ("mai", "", "", True, "needs_domain"),
    ("", "", "corp.example.au", True, "empty"),
    ("   ", "", "corp.example.au", True, "empty"),
    ("mai nguyen", "", "corp.example.au", True, "bad_character"),
    ("mai/x@corp.example.au", "", "", True, "bad_character"),
    ("mai\x00@corp.example.au", "", "", True, "bad_character"),
    ("mai\u200b@corp.example.au", "", "", True, "bad_character"),
    ("mai@@corp.example.au", "", "", True, "bad_character"),
    ("a@b@corp.example.au", "", "", True, "bad_character"),
    ("@corp.example.au", "", "", True, "empty_user"),
    ("mai@", "", "", True, "bad_domain"),
    ("mai@corp..example", "", "", True, "bad_domain"),
    ("mai@-corp.example", "", "", True, "bad_domain"),
    ("mai@corp_example.au", "", "", True, "bad_domain"),
    ("mai@exämple.au", "", "", True, "bad_domain"),
    ("mai", "not a domain", "corp.example.au", True, "bad_domain"),
    ("m" * 64 + "@corp.example.au", "", "", True, "m" * 64 + "@corp.example.au"),
    ("m" * 65 + "@corp.example.au", "", "", True, "too_long"),
    ("m" * 70, "", "corp.example.au", True, "too_long"),
]


@pytest.mark.parametrize(("typed", "option", "default", "append", "expected"), CASES)
def test_user_id_rules(typed, option, default, append, expected):
    call = lambda: normalise_user_id(  # noqa: E731
        typed, option_domain=option, default_domain=default, append_domain=append
    )
    if "@" in expected:
        assert call() == expected
    else:
        with pytest.raises(IdentityError) as info:
            call()
        assert info.value.code == expected


def test_error_is_a_value_error_with_a_code_not_a_sentence():
    with pytest.raises(ValueError) as info:
        normalise_user_id("mai")
    assert str(info.value) == "needs_domain"


@pytest.mark.parametrize("name", ["localhost", "corp.example.au", "a-b.c1", "x" * 63 + ".au"])
def test_host_names_accepted(name):
    assert is_host_name(name)


@pytest.mark.parametrize("name", ["", ".", "a.", "-a.b", "a-.b", "a b", "x" * 64 + ".au", "é.au"])
def test_host_names_refused(name):
    assert not is_host_name(name)


anything = st.text(max_size=100)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)


@given(typed=anything, option=anything, default=st.one_of(st.just(""), domains),
       append=st.booleans())
def test_result_always_has_one_at_and_no_slash_or_blank(typed, option, default, append):
    try:
        result = normalise_user_id(
            typed, option_domain=option, default_domain=default, append_domain=append
        )
    except IdentityError:
        return
    assert result.count("@") == 1
    assert "/" not in result
    assert not any(ch.isspace() for ch in result)
    assert len(result) <= 80


user_parts = st.text(
    alphabet=st.characters(blacklist_categories=("C", "Z"), blacklist_characters="@/"),
    min_size=1, max_size=30,
).filter(lambda user: not user.startswith(FORMULA_START))  # refused: tested below
mixed_case_domains = st.lists(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True),
    min_size=1, max_size=3,
).map(".".join)


@given(user=user_parts, domain=mixed_case_domains, option=anything, default=domains)
def test_id_with_domain_changes_only_in_domain_case(user, domain, option, default):
    typed = f"{user}@{domain}"
    result = normalise_user_id(typed, option_domain=option, default_domain=default)
    assert result == f"{user}@{domain.lower()}"


@given(user=user_parts, start=st.sampled_from(FORMULA_START))
def test_a_user_id_never_starts_like_a_spreadsheet_formula(user, start):
    """A user ID is kept in the log and its CSV exports: `=`, `+` or `-` first is refused."""
    with pytest.raises(IdentityError) as refused:
        normalise_user_id(f"{start}{user}@corp.example.au")
    assert refused.value.code == BAD_CHARACTER
