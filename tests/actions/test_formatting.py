"""Money, dates, scheme names and masked identifiers as the investor sees them."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.formatting import (
    button,
    capabilities,
    folio_handle,
    folio_label,
    inr,
    match_folio,
    scheme_title,
    short_scheme,
    signed_pct,
)
from actions.statements import statement_kind
from connectors.capabilities import REST, WHATSAPP, for_channel
from connectors.whatsapp import messages


def test_rupees_use_indian_grouping() -> None:
    assert inr(1234567.8) == "₹12,34,568"
    assert inr(999) == "₹999"
    assert inr(100000) == "₹1,00,000"
    assert inr(-5000.5, paise=True) == "-₹5,000.50"
    assert signed_pct(3.456) == "+3.46%" and signed_pct(-1) == "-1.00%"


def test_scheme_names_fit_a_phone_and_buttons() -> None:
    assert short_scheme("Sahyadri Flexi Cap Fund - Direct Plan - Growth") == "Flexi Cap (Direct-Growth)"
    title = scheme_title("Sahyadri Pharma and Healthcare Fund - Regular Plan - IDCW", "₹10,000")
    assert len(title) <= 20 and title.endswith("₹10,000")


def on_channel(name: str | None) -> Tracker:
    user = {"event": "user", "text": "hi", "parse_data": {}, "input_channel": name}
    return Tracker("919800000001", {}, {}, [user], False, None, {}, "")


def test_buttons_fit_the_channel_the_investor_wrote_on() -> None:
    name, long_title = "Sahyadri Pharma and Healthcare Fund - Regular Plan - IDCW", "Talk to an agent about my SIP"
    for channel, caps in (("whatsapp", WHATSAPP), (None, WHATSAPP), ("some_new_channel", WHATSAPP), ("rest", REST)):
        assert capabilities(on_channel(channel)) == caps == for_channel(channel)
    assert len(button(long_title, "/x", WHATSAPP)["title"]) == 20 == len(button(long_title, "/x")["title"])
    assert button(long_title, "/x", REST)["title"] == long_title
    assert scheme_title(name, "₹10,000", REST) == "Pharma and Healthcare ₹10,000"
    # The WhatsApp channel enforces the limits it declares.
    assert (messages.MAX_REPLY_BUTTONS, messages.MAX_LIST_ROWS, messages.BUTTON_TITLE_LIMIT, messages.TEXT_LIMIT) == (
        WHATSAPP.max_buttons, WHATSAPP.max_list_rows, WHATSAPP.button_title_max, WHATSAPP.max_text)


def test_folios_are_masked_and_matched_by_their_tail() -> None:
    assert folio_label("17692376/47") == "XXXX2376/47"
    assert folio_handle("17692376/47") == "2376/47"
    folios = ["17692376/47", "32254921/74"]
    assert match_folio(folios, "4921/74") == "32254921/74"
    assert match_folio(folios, "XXXX2376/47") == "17692376/47"
    assert match_folio(folios, "0000") is None


def test_statement_kinds_accept_what_investors_say() -> None:
    assert statement_kind("CAS") == "cas"
    assert statement_kind("capital gains") == "capital_gains"
    assert statement_kind("account_statement") == "account_statement"
    assert statement_kind("weather") is None
