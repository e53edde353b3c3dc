"""`make chat`: talk to the running assistant from a terminal, as an investor on a chosen WhatsApp number.

Speaks Rasa's REST channel (the same dialogue as WhatsApp), shows reply buttons as numbered choices:
type the number to tap one. Ctrl-D or /quit to leave.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any

from common.config import env_str


def send(rasa_url: str, sender: str, text: str) -> list[dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(  # noqa: S310 (the Rasa URL comes from configuration)
        f"{rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {env_str('REST_CHANNEL_TOKEN', 'dev-rest-token')}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return list(json.loads(response.read()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", default=env_str("CHAT_NUMBER", "919800000001"), help="your WhatsApp number")
    parser.add_argument("--rasa", default=env_str("RASA_URL", "http://127.0.0.1:5005"))
    args = parser.parse_args()
    print(f"Chatting as +{args.number} with {args.rasa}. Try: 'what is the lock-in period for ELSS?'")
    buttons: list[dict[str, Any]] = []
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            return 0
        if text in {"/quit", "/exit"}:
            return 0
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        if not text:
            continue
        buttons = []
        for reply in send(args.rasa, args.number, text):
            if reply.get("text"):
                print(f"bot> {reply['text']}")
            for button in reply.get("buttons") or []:
                buttons.append(button)
                print(f"     [{len(buttons)}] {button['title']}")
            if reply.get("custom"):
                print(f"bot> (rich message) {json.dumps(reply['custom'])[:200]}")


if __name__ == "__main__":
    sys.exit(main())
