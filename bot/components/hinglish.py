"""One spelling for what investors type: Devanagari romanised as WhatsApp Hinglish, abbreviations spelled out.

Investors write the same question as "मेरा पोर्टफोलियो दिखाओ", "mera portfolio dikhao" and "MERA PORTFOLIO
DIKHAO!!!". The classifier learns from features of tokens, so `HinglishTokenizer` gives every token one
canonical spelling before any featurizer sees it, in training and at parse time alike:

1. Devanagari is romanised the way people type Hinglish, not the way scholars transliterate: long and short
   vowels fold together (आ/अ -> a), the inherent vowel is dropped at the end of a word and in the middle where
   Hindi drops it (करना -> karna, कितना -> kitna, not karanaa), nasals become n (नहीं -> nahin). Loanwords
   and acronyms written in Devanagari (पोर्टफोलियो, एसआईपी, केवाईसी) map to their English spelling.
2. Every token is lower-cased, runs of three or more letters are cut to one ("plzzz", "hiiii"), and the
   abbreviations of WhatsApp and of fund paperwork are spelled out (stmt -> statement, txn -> transaction).
3. A light phonetic fold removes spelling variants that Hinglish writers use interchangeably: ee/ii -> i,
   oo/uu -> u, aa -> a, ph -> f, w -> v (so "jyada"/"zyada" stay apart, but "phir"/"fir", "wala"/"vala",
   "kijiye"/"keejiye" meet).

Tokens keep their offsets in the original text, so entity values are still cut from what the investor
wrote, and the text stored in the tracker (and shown to an agent) is never changed.
The romanisation is a small table of our own rather than a transliteration package: ITRANS/Harvard-Kyoto
output (karanA, porTapholiyo) needs this same post-processing anyway, and a table adds no dependency
(docs/nlu-pipeline.md, "Devanagari").
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

DEVANAGARI = re.compile(r"[\u0900-\u097F]+")
CONSONANTS = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j", "झ": "jh", "ञ": "n",
    "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t", "थ": "th", "द": "d", "ध": "dh", "न": "n",
    "प": "p", "फ": "f", "ब": "b", "भ": "bh", "म": "m", "य": "y", "र": "r", "ल": "l", "ळ": "l", "व": "v",
    "श": "sh", "ष": "sh", "स": "s", "ह": "h",
    "क़": "k", "ख़": "kh", "ग़": "g", "ज़": "z", "ड़": "d", "ढ़": "dh", "फ़": "f", "य़": "y",
}  # fmt: skip
NUKTA_FORMS = {"क": "क़", "ख": "ख़", "ग": "ग़", "ज": "ज़", "ड": "ड़", "ढ": "ढ़", "फ": "फ़", "य": "य़"}
VOWELS = {
    "अ": "a", "आ": "a", "इ": "i", "ई": "i", "उ": "u", "ऊ": "u", "ऋ": "ri", "ए": "e", "ऐ": "ai", "ओ": "o",
    "औ": "au", "ऑ": "o", "ऍ": "e", "ऎ": "e", "ऒ": "o",
}  # fmt: skip
MATRAS = {
    "ा": "a", "ि": "i", "ी": "i", "ु": "u", "ू": "u", "ृ": "ri", "े": "e", "ै": "ai", "ो": "o", "ौ": "au",
    "ॉ": "o", "ॅ": "e", "ॆ": "e", "ॊ": "o",
}  # fmt: skip
VIRAMA, NUKTA = "्", "़"
NASALS = {"ं": "n", "ँ": "n"}
VISARGA = "ः"
DIGITS = {chr(0x0966 + d): str(d) for d in range(10)}
KEEP_FINAL_SCHWA_AFTER = {"r", "y", "v"}  # मित्र -> mitra, सत्य -> satya, but करम -> karam

# Loanwords and acronyms investors write in Devanagari, by their romanised form (after the phonetic fold).
# Written as Devanagari here; the table is built by romanising each key, so spelling variants that romanise
# alike (फंड/फण्ड, पॉलिसी/पालिसी) all find it.
DEVANAGARI_LOANWORDS = {
    # the product and its paperwork
    "म्यूचुअल": "mutual", "म्युचुअल": "mutual", "फंड": "fund", "फण्ड": "fund", "फंड्स": "funds", "स्कीम": "scheme",
    "एसआईपी": "sip", "सिप": "sip", "एनएवी": "nav", "नैव": "nav", "केवाईसी": "kyc", "पैन": "pan", "ओटीपी": "otp",
    "ईएलएसएस": "elss", "एसडब्ल्यूपी": "swp", "एसटीपी": "stp", "आईडीसीडब्ल्यू": "idcw", "सीएएस": "cas",
    "पोर्टफोलियो": "portfolio", "पोर्टफ़ोलियो": "portfolio", "फोलियो": "folio", "फ़ोलियो": "folio",
    "स्टेटमेंट": "statement", "स्टेटमेंट्स": "statements", "ट्रांजैक्शन": "transaction", "ट्रांजेक्शन": "transaction",
    "ट्रांज़ैक्शन": "transaction", "ट्रांजैक्शंस": "transactions", "हिस्ट्री": "history", "स्टेटस": "status",
    "रिडेम्पशन": "redemption", "रिडेम्प्शन": "redemption", "रिडीम": "redeem", "रिडीम्पशन": "redemption",
    "यूनिट": "unit", "यूनिट्स": "units", "नॉमिनी": "nominee", "नोमिनी": "nominee", "नॉमिनेशन": "nomination",
    "डायरेक्ट": "direct", "रेगुलर": "regular", "प्लान": "plan", "ग्रोथ": "growth", "डिविडेंड": "dividend",
    "एग्जिट": "exit", "एग्ज़िट": "exit", "एक्जिट": "exit", "लोड": "load", "लॉक": "lock", "इन": "in",
    "कट": "cut", "ऑफ": "off", "टाइम": "time", "स्विच": "switch", "रिस्कोमीटर": "riskometer", "रिस्क": "risk",
    "मिनिमम": "minimum", "टैक्स": "tax", "कैपिटल": "capital", "गेन": "gain", "गेंस": "gains", "अनक्लेम्ड": "unclaimed",
    "बैंक": "bank", "अकाउंट": "account", "एकाउंट": "account", "डिटेल्स": "details", "डिटेल": "detail",
    "अपडेट": "update", "ईमेल": "email", "मेल": "mail", "मोबाइल": "mobile", "नंबर": "number", "एड्रेस": "address",
    "डॉक्यूमेंट": "document", "डॉक्यूमेंट्स": "documents", "डाक्यूमेंट": "document", "प्रूफ": "proof",
    "ऑनलाइन": "online", "ऐप": "app", "वेबसाइट": "website", "लिंक": "link", "पेंडिंग": "pending",
    "अमाउंट": "amount", "डेट": "date", "इन्वेस्ट": "invest", "इन्वेस्टमेंट": "investment", "रिटर्न": "return",
    "रिटर्न्स": "returns", "वैल्यू": "value", "बैलेंस": "balance", "प्रोसेस": "process", "फॉर्म": "form",
    "लार्ज": "large", "मिड": "mid", "स्मॉल": "small", "कैप": "cap", "फ्लेक्सी": "flexi", "लिक्विड": "liquid",
    "इंडेक्स": "index", "हाइब्रिड": "hybrid", "ब्लूचिप": "bluechip", "इक्विटी": "equity", "डेब्ट": "debt",
    "एक्सिस": "axis", "एचडीएफसी": "hdfc", "एसबीआई": "sbi", "आईसीआईसीआई": "icici", "कोटक": "kotak",
    "निप्पॉन": "nippon", "मिराए": "mirae", "पराग": "parag", "पारिख": "parikh", "क्वांट": "quant", "यूटीआई": "uti",
    "टाटा": "tata", "डीएसपी": "dsp", "कैनरा": "canara", "निफ्टी": "nifty",
    # what the assistant does not do
    "शेयर": "share", "शेयर्स": "shares", "स्टॉक": "stock", "स्टॉक्स": "stocks", "प्राइस": "price", "मार्केट": "market",
    "सेंसेक्स": "sensex", "लोन": "loan", "ईएमआई": "emi", "कार्ड": "card", "क्रेडिट": "credit", "डेबिट": "debit",
    "इंश्योरेंस": "insurance", "इन्शुरन्स": "insurance", "पॉलिसी": "policy", "प्रीमियम": "premium", "क्लेम": "claim",
    "एलआईसी": "lic", "एफडी": "fd", "आरडी": "rd", "पीपीएफ": "ppf", "ईपीएफ": "epf", "पीएफ": "pf", "एनपीएस": "nps",
    "आईटीआर": "itr", "जीएसटी": "gst", "टीडीएस": "tds", "आधार": "aadhaar", "यूपीआई": "upi", "क्रिप्टो": "crypto",
    "बिटकॉइन": "bitcoin", "गोल्ड": "gold", "ब्रांच": "branch", "आईएफएससी": "ifsc", "एटीएम": "atm", "ब्रोकर": "broker",
    "ज़ीरोधा": "zerodha", "जीरोधा": "zerodha", "ग्रो": "groww", "पेटीएम": "paytm", "टिप्स": "tips", "आईपीओ": "ipo",
    # conversation
    "हैलो": "hello", "हेलो": "hello", "हलो": "hello", "हाय": "hi", "थैंक्स": "thanks", "थैंक": "thank", "यू": "you",
    "थैंक्यू": "thankyou", "बाय": "bye", "ओके": "ok", "प्लीज": "please", "प्लीज़": "please", "सर": "sir",
    "बॉट": "bot", "रोबोट": "robot", "एजेंट": "agent", "कस्टमर": "customer", "केयर": "care", "सपोर्ट": "support",
    "हेल्प": "help", "चेक": "check", "स्टार्ट": "start", "स्टॉप": "stop", "कैंसल": "cancel", "कैंसिल": "cancel",
    "रिक्वेस्ट": "request", "कॉल": "call", "मैसेज": "message", "सेंड": "send", "कॉपी": "copy", "टोटल": "total",
}  # fmt: skip

# WhatsApp and fund-paperwork abbreviations, spelled out (keys are lower-case tokens).
ABBREVIATIONS = {
    "stmt": "statement", "stmnt": "statement", "stmts": "statements", "statment": "statement", "soa": "statement",
    "amt": "amount", "amnt": "amount", "txn": "transaction", "txns": "transactions", "trxn": "transaction",
    "trxns": "transactions", "trans": "transaction", "tranx": "transaction", "bal": "balance", "redm": "redemption",
    "redmp": "redemption", "redemp": "redemption", "rdmptn": "redemption", "redemtion": "redemption",
    "plz": "please", "pls": "please", "plss": "please", "plzz": "please", "pl": "please", "acct": "account",
    "accnt": "account", "a/c": "account", "acc": "account", "mob": "mobile", "addr": "address",
    "docs": "documents", "doc": "document", "info": "information", "msg": "message", "nomni": "nominee",
    "u": "you", "ur": "your", "wat": "what", "wht": "what", "hw": "how", "abt": "about", "thru": "through",
    "b4": "before", "bcoz": "because", "bcz": "because", "coz": "because", "cuz": "because", "yr": "year",
    "yrs": "years", "mnth": "month", "mnths": "months", "dt": "date", "nxt": "next", "req": "request",
    "pmt": "payment", "invst": "invest", "hrs": "hours", "govt": "government",
    "h": "hai", "hy": "hai", "kb": "kab", "kia": "kya", "kyaa": "kya", "kr": "kar", "krna": "karna",
    "krni": "karni", "krdo": "kardo", "nhi": "nahi", "nahin": "nahi", "nhin": "nahi", "btao": "batao",
    "bta": "bata", "chaiye": "chahiye", "chahie": "chahiye", "chahiyee": "chahiye", "muje": "mujhe",
    "mjhe": "mujhe", "mereko": "mujhe", "kese": "kaise", "kaisey": "kaise", "kyon": "kyu", "kyun": "kyu",
    "thx": "thanks", "thnx": "thanks", "tnx": "thanks", "thanx": "thanks", "ty": "thanks",
}  # fmt: skip
REPEATS = re.compile(r"([a-z])\1{2,}")
FOLDS = ((re.compile(r"ee|ii"), "i"), (re.compile(r"oo|uu"), "u"), (re.compile(r"aa"), "a"), (re.compile("ph"), "f"),
         (re.compile("w"), "v"))  # fmt: skip


def _units(word: str) -> list[tuple[str, str]]:
    """Devanagari letters as (kind, roman) units: C consonant, V vowel, S inherent vowel, N nasal, O other."""
    units: list[tuple[str, str]] = []
    chars = list(word)
    i = 0
    while i < len(chars):
        char = chars[i]
        if i + 1 < len(chars) and chars[i + 1] == NUKTA and char in NUKTA_FORMS:
            char = NUKTA_FORMS[char]
            i += 1
        if char in CONSONANTS:
            units += [("C", CONSONANTS[char]), ("S", "a")]
        elif char in MATRAS:
            if units and units[-1][0] == "S":
                units.pop()
            units.append(("V", MATRAS[char]))
        elif char == VIRAMA:
            if units and units[-1][0] == "S":
                units.pop()
        elif char in VOWELS:
            units.append(("V", VOWELS[char]))
        elif char in NASALS or char == VISARGA:
            if units and units[-1][0] == "S":
                units[-1] = ("V", "a")  # a sounded vowel carries the nasal: कंपनी -> kampani
            units.append(("N", NASALS.get(char, "h")))
        elif char in DIGITS:
            units.append(("O", DIGITS[char]))
        elif char != NUKTA:
            units.append(("O", char))
        i += 1
    return units


def _is_vowel(unit: tuple[str, str]) -> bool:
    return unit[0] in {"V", "S"}


def romanise_word(word: str) -> str:
    """One Devanagari word as Hinglish is typed: करना -> karna, चाहिए -> chahiye, स्टेटमेंट -> stetment."""
    units = _units(word)
    syllables = sum(1 for u in units if _is_vowel(u))
    # the inherent vowel at the end of a word of more than one syllable is silent (कब -> kab, पैसा stays)
    if units and units[-1][0] == "S" and syllables > 1:
        cluster = len(units) >= 3 and units[-2][0] == "C" and units[-3][0] == "C"
        if not (cluster and units[-2][1] in KEEP_FINAL_SCHWA_AFTER):
            units.pop()
    # ... and in the middle of a word between V C _ C V, right to left (कितना -> kitna, समझना -> samajhna)
    for i in range(len(units) - 3, 1, -1):
        if (
            units[i][0] == "S"
            and units[i - 1][0] == "C"
            and _is_vowel(units[i - 2])
            and units[i + 1][0] == "C"
            and _is_vowel(units[i + 2])
        ):
            del units[i]
    out: list[str] = []
    for index, (kind, text) in enumerate(units):
        # a glide between i/a/e and a following vowel letter: चाहिए -> chahiye, गए -> gaye, लिए -> liye
        if kind == "V" and index and _is_vowel(units[index - 1]) and text in {"e", "a"} and out[-1][-1] in "iae":
            out.append("y")
        out.append(text)
    return "".join(out)


def fold(token: str) -> str:
    """Lower-case, squeeze letter runs, and fold the spelling variants of Hinglish (see the module docstring)."""
    token = REPEATS.sub(r"\1", token.lower())
    for pattern, replacement in FOLDS:
        token = pattern.sub(replacement, token)
    return token


LOANWORDS = {fold(romanise_word(k)): fold(v) for k, v in DEVANAGARI_LOANWORDS.items()}


def normalise_token(token: str) -> str:
    """The canonical spelling of one whitespace token, in Latin or Devanagari script."""
    if DEVANAGARI.search(token):
        token = DEVANAGARI.sub(lambda m: romanise_word(m.group(0)), token)
        folded = fold(token)
        return LOANWORDS.get(folded) or fold(ABBREVIATIONS.get(folded, folded))
    lowered = REPEATS.sub(r"\1", token.lower())
    if any(char.isdigit() for char in lowered):
        return lowered  # PAN, folio, OTP, amounts: spelled as given
    return fold(ABBREVIATIONS.get(lowered, lowered))


def normalise_text(text: str) -> str:
    """A whole message as the classifier sees it (for reports and tests; the tokenizer works token by token)."""
    return " ".join(normalise_token(word) for word in text.split())


SOURCE_FINGERPRINT = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class HinglishTokenizer(WhitespaceTokenizer):
    """Rasa's whitespace tokenizer, with every token of the message text in its canonical spelling."""

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The tables above change what the model learns: retrain when this module changes, not only the class."""
        return SOURCE_FINGERPRINT

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Whitespace tokens of `attribute`; for the message text, in canonical spelling at the original offsets."""
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        canonical = []
        for token in tokens:
            text = normalise_token(token.text) or token.text
            canonical.append(Token(text, token.start, token.end, data=token.data, lemma=text))
        return canonical
