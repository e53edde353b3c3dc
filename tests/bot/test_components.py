"""The project's NLU components (bot/components/), on real Rasa messages and no trained model."""

from __future__ import annotations

import pytest
import yaml
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from bot import paths
from bot.calibration import Outcome, expected_calibration_error, fit_temperature, negative_log_likelihood, scale
from bot.components.confidence import TemperatureCalibrator, TopicFallbackClassifier
from bot.components.hinglish import HinglishTokenizer, normalise_text, romanise_word
from bot.components.schemes import SchemeSpan
from bot.components.scope import ScopeKinds
from bot.components.topics import blend, fold_topics, joint_distribution, with_topic_labels
from handoff.review import candidates


@pytest.mark.parametrize(
    ("devanagari", "hinglish"),
    [
        ("करना", "karna"),  # the inherent vowel is dropped at the end and between V C _ C V
        ("कितना", "kitna"),
        ("बताओ", "batao"),
        ("चाहिए", "chahiye"),  # a glide between vowels, as people type it
        ("नहीं", "nahin"),
        ("पैसा", "paisa"),
        ("मित्र", "mitra"),  # kept after a conjunct ending in r
    ],
)
def test_devanagari_is_romanised_as_hinglish_is_typed(devanagari: str, hinglish: str) -> None:
    assert romanise_word(devanagari) == hinglish


def test_one_spelling_for_every_script_and_style() -> None:
    assert normalise_text("मेरा पोर्टफोलियो दिखाओ") == normalise_text("mera portfolio dikhao") == "mera portfolio dikhao"
    assert normalise_text("मेरी एसआईपी कब कटेगी") == "meri sip kab kategi"
    assert normalise_text("PLZZZ send STMT") == "please send statement"
    assert normalise_text("nahi") == normalise_text("nhi") == normalise_text("नहीं")
    assert normalise_text("ABCDE1234F") == "abcde1234f"  # identifiers are only lower-cased


def test_tokens_keep_their_offsets_in_what_the_investor_wrote() -> None:
    message = Message({TEXT: "मेरा SIP status बताओ!!"})
    HinglishTokenizer(HinglishTokenizer.get_default_config()).process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == ["mera", "sip", "status", "batao"]
    assert [message.get(TEXT)[t.start : t.end] for t in tokens] == ["मेरा", "SIP", "status", "बताओ"]


def test_temperature_keeps_the_order_and_softens_the_peak() -> None:
    softened = scale([0.98, 0.015, 0.005], 3.0)
    assert softened == sorted(softened, reverse=True)
    assert 0.5 < softened[0] < 0.9 and abs(sum(softened) - 1) < 1e-9


def parsed(ranking: list[tuple[str, float]], topics: list[tuple[str, float]] | None = None) -> Message:
    message = Message({TEXT: "tax saver fd lock in"})
    message.set(INTENT, {"name": ranking[0][0], "confidence": ranking[0][1]}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking], add_to_output=True)
    if topics:
        ranked = [{"intent_response_key": k, "confidence": c} for k, c in topics]
        response = {"intent_response_key": topics[0][0], "confidence": topics[0][1]}
        message.set("response_selector", {"faq": {"response": response, "ranking": ranked}}, add_to_output=True)
    return message


def test_out_of_scope_kinds_fold_into_one_intent_with_the_kind_as_entity() -> None:
    message = parsed([("faq", 0.4), ("out_of_scope_deposits", 0.35), ("out_of_scope_income_tax", 0.25)])
    ScopeKinds(ScopeKinds.get_default_config()).process([message])
    assert message.get(INTENT) == {"name": "out_of_scope", "confidence": pytest.approx(0.6)}
    assert [e["value"] for e in message.get(ENTITIES) if e["entity"] == "scope_kind"] == ["deposits"]


def test_calibrator_rescales_intents_and_topics() -> None:
    message = parsed([("faq", 0.999), ("check_nav", 0.001)], [("faq/elss_lock_in", 0.99), ("faq/exit_load", 0.01)])
    config = {**TemperatureCalibrator.get_default_config(), "intent_temperature": 4.0, "topic_temperature": 4.0}
    TemperatureCalibrator(config).process([message])
    assert message.get(INTENT)["confidence"] < 0.9
    assert message.get("response_selector")["faq"]["response"]["confidence"] < 0.8


def test_a_doubtful_faq_topic_falls_back_even_when_the_intent_is_sure() -> None:
    config = {**TopicFallbackClassifier.get_default_config(), "threshold": 0.6, "faq_threshold": 0.6}
    doubtful = parsed([("faq", 0.95), ("check_nav", 0.05)], [("faq/elss_lock_in", 0.55), ("faq/exit_load", 0.45)])
    sure = parsed([("faq", 0.95), ("check_nav", 0.05)], [("faq/elss_lock_in", 0.9), ("faq/exit_load", 0.1)])
    TopicFallbackClassifier(config).process([doubtful, sure])
    assert doubtful.get(INTENT)["name"] == "nlu_fallback"
    assert sure.get(INTENT)["name"] == "faq"


def test_scheme_entities_take_their_plan_and_option() -> None:
    text = "NAV of Axis Bluechip Fund - Direct Plan - Growth pls"
    message = Message({TEXT: text})
    entities = [
        {"entity": "scheme", "start": 7, "end": 20, "value": "Axis Bluechip", "extractor": "DIETClassifier"},
        {"entity": "scheme", "start": 7, "end": 20, "value": "axis bluechip", "extractor": "RegexEntityExtractor"},
    ]
    message.set(ENTITIES, entities, add_to_output=True)
    SchemeSpan().process([message])
    schemes = [e for e in message.get(ENTITIES) if e["entity"] == "scheme"]
    assert [e["value"] for e in schemes] == ["Axis Bluechip Fund - Direct Plan - Growth"]


def test_outcome_and_calibration_error() -> None:
    parse = {
        "intent": {"name": "nlu_fallback", "confidence": 0.6},
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.6}, {"name": "faq", "confidence": 0.8}],
        "response_selector": {"faq": {"response": {"intent_response_key": "faq/exit_load", "confidence": 0.5}}},
    }
    outcome = Outcome.of(parse)
    assert not outcome.answered and outcome.guess == "faq/exit_load" and outcome.confidence == pytest.approx(0.4)
    assert expected_calibration_error([(0.95, True), (0.95, False)]) == pytest.approx(0.45)
    assert expected_calibration_error([(0.75, True), (0.75, True), (0.75, True), (0.75, False)]) == pytest.approx(0)


def test_fitted_temperature_softens_an_overconfident_model() -> None:
    # right 3 times in 4 at a stated 0.999: the likelihood is best with a much softer distribution
    rows = [({"a": 0.999, "b": 0.001}, "a")] * 3 + [({"a": 0.999, "b": 0.001}, "b")]
    t = fit_temperature(
        lambda t: negative_log_likelihood(
            [(dict(zip("ab", scale(list(p.values()), t), strict=True)), label) for p, label in rows]
        )
    )
    assert t > 3


def test_faq_topics_are_folded_into_faq_with_the_topic_given_faq() -> None:
    ranking = [{"name": "faq/update_kyc", "confidence": 0.5}, {"name": "update_contact", "confidence": 0.3},
               {"name": "faq/exit_load", "confidence": 0.125}, {"name": "greet", "confidence": 0.075}]
    folded, prediction = fold_topics(ranking, "faq")
    assert [(r["name"], round(r["confidence"], 3)) for r in folded] == [
        ("faq", 0.625), ("update_contact", 0.3), ("greet", 0.075)]
    response = prediction["response"]
    assert response["intent_response_key"] == "faq/update_kyc"
    assert response["utter_action"] == "utter_faq/update_kyc"
    assert response["confidence"] == pytest.approx(0.8)  # 0.5 of the 0.625 that is FAQ at all
    assert [(r["intent_response_key"], round(r["confidence"], 3)) for r in prediction["ranking"]] == [
        ("faq/update_kyc", 0.8), ("faq/exit_load", 0.2)]


def test_a_ranking_without_topics_is_left_alone() -> None:
    ranking = [{"name": "greet", "confidence": 0.9}, {"name": "goodbye", "confidence": 0.1}]
    assert fold_topics(ranking, "faq") == (ranking, {})


def test_faq_questions_are_labelled_by_topic_for_training_without_touching_the_originals() -> None:
    data = RasaYAMLReader().reads(
        'version: "3.1"\nnlu:\n- intent: faq/exit_load\n  examples: |\n    - exit load kitna hai\n'
        "- intent: greet\n  examples: |\n    - hello\n"
    )
    labelled = with_topic_labels(data, "faq")
    assert sorted(m.get(INTENT) for m in labelled.intent_examples) == ["faq/exit_load", "greet"]
    assert sorted(m.get(INTENT) for m in data.intent_examples) == ["faq", "greet"]
    assert labelled.responses == data.responses


def test_the_models_before_are_read_as_one_distribution_over_intents_and_topics() -> None:
    message = parsed([("faq", 0.8), ("update_contact", 0.2)], [("faq/update_kyc", 0.75), ("faq/exit_load", 0.25)])
    assert joint_distribution(message, "faq") == pytest.approx(
        {"faq/update_kyc": 0.6, "faq/exit_load": 0.2, "update_contact": 0.2})
    assert joint_distribution(Message({TEXT: "hi"}), "faq") == {}


def test_two_opinions_are_averaged_and_one_alone_is_kept() -> None:
    before = {"faq/update_kyc": 0.6, "faq/exit_load": 0.2, "update_contact": 0.2}
    own = {"update_contact": 0.8, "faq/update_kyc": 0.2}
    mixed = blend(before, own, 0.5)  # the second model changes the answer: update_contact 0.5 against KYC 0.4
    assert [(r["name"], round(r["confidence"], 3)) for r in mixed] == [
        ("update_contact", 0.5), ("faq/update_kyc", 0.4), ("faq/exit_load", 0.1)]
    assert sum(r["confidence"] for r in mixed) == pytest.approx(1.0)
    assert [r["name"] for r in blend({}, own, 0.5)] == ["update_contact", "faq/update_kyc"]
    assert blend(before, {}, 0.5)[0] == {"name": "faq/update_kyc", "confidence": 0.6}  # an untrained second model
    assert blend(before, own, 0.0)[0] == {"name": "faq/update_kyc", "confidence": pytest.approx(0.6)}


def test_the_chosen_candidate_of_make_compare_is_the_configured_pipeline() -> None:
    chosen = yaml.safe_load((paths.ROOT / "bot" / "pipelines" / "ensemble_topics.yml").read_text())
    assert chosen["pipeline"] == yaml.safe_load(paths.CONFIG.read_text())["pipeline"]


def test_the_review_queue_doubts_what_the_assistant_doubts() -> None:
    fallback = next(c for c in yaml.safe_load(paths.CONFIG.read_text())["pipeline"]
                    if c["name"].endswith("TopicFallbackClassifier"))
    assert candidates.THRESHOLD == fallback["threshold"]
