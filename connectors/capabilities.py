"""What each channel can show, declared by the channel so that replies fit without knowing the platform.

Actions ask `for_channel(tracker.get_latest_input_channel())` (actions/formatting.py: `capabilities(tracker)`)
and shape buttons, lists and text to it; the channel's own output code enforces the same numbers
(connectors/whatsapp/messages.py takes WhatsApp's from here). A new channel adds one entry to `CHANNELS`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """Limits of one channel's messages (characters are Unicode code points)."""

    max_buttons: int  # reply buttons under one message; more become a list
    max_list_rows: int  # rows in one list message
    button_title_max: int  # characters in a button title (and a list button's label)
    max_text: int  # characters in one text message


# Meta's WhatsApp Cloud API limits (messages endpoint): 3 reply buttons, 10 list rows, 20-character button
# titles, 4096-character text bodies.
WHATSAPP = Capabilities(max_buttons=3, max_list_rows=10, button_title_max=20, max_text=4096)
# The developers' token-protected REST channel (connectors/rest.py): JSON to a terminal or a test, no platform rules.
REST = Capabilities(max_buttons=20, max_list_rows=50, button_title_max=60, max_text=20000)

CHANNELS: dict[str, Capabilities] = {"whatsapp": WHATSAPP, "rest": REST}
# A channel that declares nothing gets the strictest limits we know, so a reply always fits.
DEFAULT = WHATSAPP


def for_channel(name: str | None) -> Capabilities:
    """The capabilities of the channel called `name` (Rasa's input channel name); `DEFAULT` when unknown."""
    return CHANNELS.get(name or "", DEFAULT)
