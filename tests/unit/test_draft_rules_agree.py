"""The client checks an invoice file before sending it (fapiao_client.draft_rules) with a copy of some of the
register's rules, since the client is installed without the server. The copy must say what the register says:
the same VAT rates, the same types that need a buyer's tax id or carry a vehicle, and the same verdict on every
tax id, so `fapiao issue` never refuses what the register would issue, nor lets through what it would refuse."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from fapiao_client import draft_rules
from fapiao_server.domain import issuing
from fapiao_server.domain.taxpayer import USCC_ALPHABET, check_tax_id, uscc_check_character


def _register_accepts(tax_id: str) -> bool:
    """What the register's issuing rules say of a party's tax id (domain.issuing._party)."""
    try:
        return len(check_tax_id(tax_id.strip().upper())) == 18
    except ValueError:
        return False


def test_the_same_rates_and_kinds_of_invoice() -> None:
    assert set(draft_rules.TAX_RATES) == set(issuing.TAX_RATES)
    assert {kind.value for kind in issuing.BUYER_TAX_ID_REQUIRED} == draft_rules.BUYER_TAX_ID_REQUIRED
    assert {kind.value for kind in issuing.VEHICLE_TYPES} == draft_rules.VEHICLE_TYPES


uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@given(uscc_bodies)
def test_a_well_made_code_is_accepted_by_both(body: str) -> None:
    code = body + uscc_check_character(body)
    assert draft_rules.tax_id_problem(code) == "" and _register_accepts(code)
    assert draft_rules.tax_id_problem(code.lower()) == "" and _register_accepts(code.lower())


@given(uscc_bodies, st.sampled_from(USCC_ALPHABET))
def test_a_wrong_check_character_is_refused_by_both(body: str, last: str) -> None:
    code = body + last
    assert (draft_rules.tax_id_problem(code) == "") == _register_accepts(code)


@given(st.text(alphabet=string.ascii_letters + string.digits + " -", max_size=22))
def test_any_other_text_gets_the_same_verdict(text: str) -> None:
    assert (draft_rules.tax_id_problem(text) == "") == _register_accepts(text)
