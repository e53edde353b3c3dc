"""`python -m bot.calibrate`: fit the confidence temperatures and choose the thresholds, on our own data only.

The evaluation sets under tests/nlu/ are never used here. Instead:
1. data/nlu is split, stratified by intent and FAQ topic, into 80 % train and 20 % dev (seeded);
2. the pipeline of config.yml is trained on the 80 % with its temperatures at 1 and its thresholds off, and the
   out-of-scope kinds left unfolded (so the raw rankings can be rescaled exactly);
3. every dev message is parsed; the intent temperature is the one that minimises the Brier score of the dev
   labels after folding the out-of-scope kinds into `out_of_scope` (what the fallback compares), the topic
   temperature the one that minimises it for the FAQ topics of the dev FAQ messages. They are used only if
   they lower the dev's expected calibration error (ECE); otherwise the temperatures stay at 1. (The
   log-likelihood is not used: a handful of confidently wrong messages decide it, and its temperature made
   the dev ECE five times worse.);
4. the intent and FAQ-topic thresholds are chosen on the rescaled dev predictions by expected cost: a wrong
   answer costs `--cost-ratio` (default 3) times a refused in-scope question. A refusal costs the investor a
   tap on a suggested button or a rephrasing; a wrong answer (an ELSS lock-in answer to a question about a tax
   saver FD, an OTP prompt for a credit-card statement) costs trust. With calibrated confidences the
   Bayes-optimal threshold is 1 - 1/ratio (0.67 for 3); the sweep shows where the dev data puts it.

Writes reports/nlu/calibration.md and calibration.json (temperatures, ECE before and after on dev, the sweep)
and prints the lines to put in config.yml. Takes one training (5-15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bot import paths
from bot.calibration import (
    base_label,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability,
    scaled_outcome,
)
from bot.nlu_data import plain

OUT = paths.REPORTS / "nlu"
WORK = paths.ROOT / ".rasa" / "calibration"
UNFOLDING = {"bot.components.scope.ScopeKinds", "bot.components.schemes.SchemeSpan"}
THRESHOLDS = [round(0.05 * i, 2) for i in range(4, 20)]  # 0.20 ... 0.95


def calibration_config(config: Path, target: Path) -> Path:
    """config.yml with temperatures 1, thresholds 0 and the kinds left unfolded (NLU only)."""
    data = yaml.safe_load(config.read_text())
    pipeline = []
    for component in data["pipeline"]:
        name = component["name"]
        if name in UNFOLDING:
            continue
        if name.endswith("TemperatureCalibrator"):
            component = {**component, "intent_temperature": 1.0, "topic_temperature": 1.0, "ranking_length": 0}
        if name.endswith("FallbackClassifier"):
            component = {**component, "threshold": 0.0, "ambiguity_threshold": 0.0, "faq_threshold": 0.0}
        pipeline.append(component)
    data["pipeline"] = pipeline
    data["policies"] = []
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return target


def split(work: Path, dev_fraction: float) -> tuple[Path, Path]:
    """Stratified, seeded train/dev split of data/nlu, written as two Rasa YAML files."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(paths.NLU_DATA))
    train, dev = data.train_test_split(train_frac=1 - dev_fraction, random_seed=42)
    work.mkdir(parents=True, exist_ok=True)
    train_file, dev_file = work / "train.yml", work / "dev.yml"
    train.persist_nlu(str(train_file))
    dev.persist_nlu(str(dev_file))
    return train_file, dev_file


async def raw_predictions(model: str, dev_file: Path) -> list[dict[str, Any]]:
    """Each dev message with its label and the model's full intent and FAQ-topic rankings."""
    from rasa.core.agent import Agent

    from bot.nlu_data import load_examples

    agent = Agent.load(model)
    rows = []
    for example in load_examples([dev_file]):
        parse = await agent.parse_message(plain(example.text))
        selector = ((parse.get("response_selector") or {}).get("faq")) or {}
        rows.append(
            {
                "label": base_label(example.label),
                "intents": {r["name"]: float(r["confidence"]) for r in parse.get("intent_ranking") or []},
                "topics": {r["intent_response_key"]: float(r["confidence"]) for r in selector.get("ranking") or []},
            }
        )
    return rows


def decide(row: dict[str, Any], intent_t: float, topic_t: float) -> tuple[str, float, float]:
    """The rescaled best guess (intent, or `faq/<topic>`), its intent confidence and its topic confidence."""
    intents, topics = scaled_outcome(row, intent_t, topic_t)
    intent = max(intents, key=lambda k: intents[k])
    if intent != "faq":
        return intent, intents[intent], 1.0
    topic = max(topics, key=lambda k: topics[k]) if topics else "faq"
    return topic, intents[intent], topics.get(topic, 0.0)


def cost_sweep(rows: list[dict[str, Any]], intent_t: float, topic_t: float, ratio: float) -> list[dict[str, Any]]:
    """For each (intent, topic) threshold pair: wrong answers, refused in-scope questions, and expected cost."""
    decided = [(row["label"], *decide(row, intent_t, topic_t)) for row in rows]
    table = []
    for t in THRESHOLDS:
        for f in THRESHOLDS:
            wrong = refused = 0
            for label, guess, intent_conf, topic_conf in decided:
                answered = guess != "out_of_scope" and intent_conf >= t and (topic_conf >= f)
                if answered and guess != label:
                    wrong += 1
                elif not answered and label != "out_of_scope":
                    refused += 1
            table.append(
                {
                    "threshold": t,
                    "faq_threshold": f,
                    "wrong_answers": wrong / len(rows),
                    "refused_in_scope": refused / len(rows),
                    "cost": (ratio * wrong + refused) / len(rows),
                }
            )
    return table


def calibration_points(rows: list[dict[str, Any]], intent_t: float, topic_t: float) -> list[tuple[float, bool]]:
    points = []
    for row in rows:
        guess, intent_conf, topic_conf = decide(row, intent_t, topic_t)
        points.append((intent_conf * topic_conf, guess == row["label"]))
    return points


def fit(rows: list[dict[str, Any]], ratio: float) -> dict[str, Any]:
    """Temperatures by Brier score (kept at 1 unless they lower the dev ECE), then thresholds by expected cost."""

    def intent_loss(t: float) -> float:
        return brier_score([(scaled_outcome(r, t, 1.0)[0], intent_of(r["label"])) for r in rows])

    faq_rows = [r for r in rows if r["label"].startswith("faq/") and r["topics"]]

    def topic_loss(t: float) -> float:
        return brier_score([(scaled_outcome(r, 1.0, t)[1], r["label"]) for r in faq_rows])

    def nll(intent_t: float) -> float:
        return negative_log_likelihood([(scaled_outcome(r, intent_t, 1.0)[0], intent_of(r["label"])) for r in rows])

    fitted = (fit_temperature(intent_loss), fit_temperature(topic_loss))
    ece = {
        temps: round(expected_calibration_error(calibration_points(rows, *temps)), 4) for temps in [(1.0, 1.0), fitted]
    }
    intent_t, topic_t = fitted if ece[fitted] < ece[(1.0, 1.0)] else (1.0, 1.0)
    sweep = cost_sweep(rows, intent_t, topic_t, ratio)
    best = min(sweep, key=lambda s: (round(s["cost"], 6), -s["threshold"], -s["faq_threshold"]))
    before, after = calibration_points(rows, 1.0, 1.0), calibration_points(rows, intent_t, topic_t)
    return {
        "dev_messages": len(rows),
        "fitted_temperatures": list(fitted),
        "nll_intent_temperature": fit_temperature(nll),
        "ece_at_fitted": ece[fitted],
        "intent_temperature": intent_t,
        "topic_temperature": topic_t,
        "cost_ratio": ratio,
        "ece_before": round(expected_calibration_error(before), 4),
        "ece_after": round(expected_calibration_error(after), 4),
        "reliability_before": reliability(before),
        "reliability_after": reliability(after),
        "chosen": best,
        "sweep": sweep,
    }


def intent_of(label: str) -> str:
    return "faq" if label.startswith("faq/") else label


def write_report(result: dict[str, Any], out: Path) -> Path:
    chosen = result["chosen"]
    lines = [
        "# Confidence calibration and thresholds (dev split of the training data)",
        "",
        f"- dev messages: {result['dev_messages']} (20 % of data/nlu, stratified, seed 42; the model was trained "
        "on the other 80 %)",
        f"- temperatures fitted by Brier score: intent {result['fitted_temperatures'][0]}, FAQ topic "
        f"{result['fitted_temperatures'][1]} (dev ECE {result['ece_at_fitted']:.3f}; by log-likelihood the intent "
        f"temperature would be {result['nll_intent_temperature']}); dev ECE at temperature 1: "
        f"{result['ece_before']:.3f}",
        f"- used: intent temperature **{result['intent_temperature']}**, FAQ-topic temperature "
        f"**{result['topic_temperature']}** (the fitted ones only if they lower the dev ECE); ECE "
        f"{result['ece_after']:.3f}",
        f"- cost of a wrong answer = {result['cost_ratio']} x cost of a refused in-scope question; lowest expected "
        f"cost at intent threshold **{chosen['threshold']}**, FAQ-topic threshold **{chosen['faq_threshold']}** "
        f"(dev: {chosen['wrong_answers']:.1%} wrong answers, {chosen['refused_in_scope']:.1%} in-scope refused)",
        "",
        "Sweep (intent threshold = FAQ-topic threshold, for reading; the choice searched all pairs):",
        "",
        "| threshold | wrong answers | in-scope refused | expected cost |",
        "|---|---|---|---|",
    ]
    for row in result["sweep"]:
        if row["threshold"] == row["faq_threshold"]:
            lines.append(
                f"| {row['threshold']:.2f} | {row['wrong_answers']:.1%} | {row['refused_in_scope']:.1%} "
                f"| {row['cost']:.3f} |"
            )
    path = out / "calibration.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    parser.add_argument("--cost-ratio", type=float, default=3.0)
    parser.add_argument("--reuse", action="store_true", help="reuse the dev predictions of the last run")
    args = parser.parse_args(argv)
    from bot.evaluate import quiet_rasa

    quiet_rasa()
    WORK.mkdir(parents=True, exist_ok=True)
    predictions = WORK / "dev_predictions.json"
    if not (args.reuse and predictions.exists()):
        from rasa.model_training import train_nlu

        train_file, dev_file = split(WORK, args.dev_fraction)
        with tempfile.TemporaryDirectory() as tmp:
            config = calibration_config(paths.CONFIG, Path(tmp) / "config.yml")
            print(f"training on {train_file.name} (80 %) with temperatures 1 and no thresholds ...", flush=True)
            model = train_nlu(str(config), str(train_file), str(WORK), fixed_model_name="dev", domain=str(paths.DOMAIN))
            if model is None:
                raise SystemExit("training failed")
        print(f"parsing {dev_file.name} ...", flush=True)
        predictions.write_text(json.dumps(asyncio.run(raw_predictions(model, dev_file))))
    result = fit(json.loads(predictions.read_text()), args.cost_ratio)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "calibration.json").write_text(json.dumps(result, indent=2))
    print(write_report(result, OUT).read_text())
    chosen = result["chosen"]
    print(
        "config.yml:\n"
        f"  TemperatureCalibrator: intent_temperature: {result['intent_temperature']}, "
        f"topic_temperature: {result['topic_temperature']}\n"
        f"  TopicFallbackClassifier: threshold: {chosen['threshold']}, faq_threshold: {chosen['faq_threshold']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
