"""The content team's checks catch what Rasa's validator does not."""

from __future__ import annotations

from pathlib import Path

from bot.nlu_data import gist, load_examples, normalise, plain
from bot.validate import Findings, check_counts, check_duplicates, check_evaluation_leaks, collect

NLU = """version: "3.1"
nlu:
  - intent: sip_status
    examples: |
      - is my sip running
      - Meri SIP kab kategi?
      - sip band karna hai pls
  - intent: stop_sip
    examples: |
      - SIP band karna hai
      - pls band karna hai sip
  - intent: faq/what_is_sip
    examples: |
      - what is a [sip](scheme)
"""


def write(tmp_path: Path, text: str, name: str = "nlu.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_normalisation_drops_markup_case_and_punctuation() -> None:
    assert plain("nav of [axis bluechip](scheme) pls") == "nav of axis bluechip pls"
    assert normalise("Meri SIP kab kategi?") == "meri sip kab kategi"
    assert gist("pls band karna hai sip") == gist("SIP band karna hai")


def test_same_example_under_two_intents_is_an_error(tmp_path: Path) -> None:
    findings = Findings()
    check_duplicates(load_examples([write(tmp_path, NLU)]), findings)
    text = "\n".join(findings.errors)
    assert "sip band karna hai pls" in text and "stop_sip" in text and "sip_status" in text
    assert "nearly the same thing" in text  # "pls band karna hai sip" differs only by filler and order


def test_too_few_examples_and_missing_intents_are_reported(tmp_path: Path) -> None:
    findings = Findings()
    check_counts(load_examples([write(tmp_path, NLU)]), findings)
    assert any("sip_status has only 3 examples" in e for e in findings.errors)
    assert any("check_portfolio has no examples" in e for e in findings.errors)
    assert any("faq/what_is_sip has only 1 examples" in e for e in findings.errors)


def test_evaluation_examples_must_not_leak_into_training(tmp_path: Path) -> None:
    heldout = write(tmp_path, NLU.replace("is my sip running", "IS MY SIP RUNNING?"), "heldout.yml")
    findings = Findings()
    check_evaluation_leaks(load_examples([write(tmp_path, NLU)]), findings, [heldout])
    assert any("IS MY SIP RUNNING?" in e and "also in the training data" in e for e in findings.errors)


EVALUATION = """version: "3.1"
nlu:
  - intent: check_portfolio
    examples: |
      - mera portfolio dikhao na bhai
  - intent: out_of_scope
    examples: |
      - what is the interest rate on a tax saver fixed deposit
      - something nobody wrote in training
"""
TRAINING = """version: "3.1"
nlu:
  - intent: check_portfolio
    examples: |
      - मेरा पोर्टफोलियो दिखाओ ना भाई
  - intent: out_of_scope_deposits
    examples: |
      - what is the interest rate on tax saver fixed deposits
"""


def test_near_copies_in_any_script_count_as_leaks(tmp_path: Path) -> None:
    """A Devanagari copy of a romanised sentence, or one differing by an article and a plural, is a leak."""
    findings = Findings()
    evaluation = write(tmp_path, EVALUATION, "finance_adjacent_oos.yml")
    check_evaluation_leaks(load_examples([write(tmp_path, TRAINING)]), findings, [evaluation])
    assert len(findings.errors) == 2, findings.errors
    assert any("mera portfolio dikhao na bhai" in e and "also" in e for e in findings.errors)
    assert any("tax saver fixed deposit" in e and "nearly" in e for e in findings.errors)


def test_out_of_scope_is_counted_by_its_kinds(tmp_path: Path) -> None:
    findings = Findings()
    check_counts(load_examples([write(tmp_path, TRAINING)]), findings)
    assert any("out_of_scope_deposits has only 1 examples" in e for e in findings.errors)
    assert any("out_of_scope_loans has no examples" in e for e in findings.errors)
    assert any("intent out_of_scope has only 1 examples" in e for e in findings.errors)  # its kinds, summed


def test_the_project_data_passes_its_own_checks() -> None:
    findings = collect()
    assert findings.errors == []
