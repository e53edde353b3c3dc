"""One logging setup for every process: JSON lines on stderr, PII masked on every path into them.

Each test runs a real child Python process that sets up logging as a service does, then leaks PII down every
path there is (log arguments, exception messages, warnings, Rasa's and Sanic's loggers, threads, a crash), and
reads what the process wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.support.processes import REPO_ROOT, base_env

PAN, PHONE, MAIL, CODE = "ABCDE1234F", "919876543210", "ramesh.k@example.com", "482913"
SECRETS = (PAN, PAN.lower(), PHONE[2:], MAIL, CODE, "482 913")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

PROBE = r'''
import json, logging, sys, threading, warnings
from common.logs import JsonStderrHandler, configure_logging, set_correlation_id

PAN, PHONE, MAIL, CODE = "ABCDE1234F", "919876543210", "ramesh.k@example.com", "482913"
order = sys.argv[1]
if order == "rasa-first":  # what `rasa run` sets up before our hook in the tracker store runs
    from rasa.utils.common import configure_logging_and_warnings, update_sanic_log_level
    from rasa.utils.io import configure_colored_logging
    from rasa.utils.log_utils import configure_structlog
    configure_logging_and_warnings(None)
    configure_colored_logging("INFO")
    configure_structlog(None)
    from sanic import Sanic
    Sanic("rasa_server")  # Sanic's own logging config: console handlers on sanic.root/.error/.access
    update_sanic_log_level()  # ... and Rasa turns their propagation off
configure_logging("probe")
configure_logging("probe")  # idempotent
if order == "ours-first":  # the gateway, the simulator: the Sanic app is made after logging is set up
    from sanic import Sanic
    Sanic("later_app")

set_correlation_id("corr-1")
log = logging.getLogger("probe")
log.info("investor %s pan %s mail %s code %s", PHONE, PAN, MAIL, CODE)
logging.getLogger("rasa.core.processor").error("rasa: user said %s", f"/inform {PAN} {CODE}")
logging.getLogger("sanic.error").error("sanic: %s", f"uri http://x/?mail={MAIL.replace('@', '%40')}")
try:
    raise ValueError(f"cannot verify {PAN} / {PHONE} / {MAIL} / {CODE}")
except ValueError:
    log.exception("verification failed", stack_info=True)
warnings.warn(f"Failed to parse arguments in line '/greet {PAN} {PHONE} {MAIL} {CODE[:3]} {CODE[3:]}'")
from rasa.shared.utils.io import raise_warning
raise_warning(f"Failed to parse arguments in line '/inform {PAN} {MAIL}'")
warnings.showwarning(f"to a file {PAN}", UserWarning, "x.py", 1, file=sys.stdout)
log.info("arguments that do not fit %d", PAN)


class Leaky:
    def __str__(self) -> str:
        raise RuntimeError(f"str failed for {MAIL}")

    def __repr__(self) -> str:
        return f"Leaky({PHONE})"


log.info(Leaky())
remote = {"name": "probe.remote", "msg": "from a queue", "levelno": 40, "levelname": "ERROR",
          "exc_text": f"Traceback: {MAIL}", "stack_info": f"Stack: {PAN}"}
log.handle(logging.makeLogRecord(remote))  # a record rebuilt from elsewhere (queue, socket): text only
if order == "rasa-first":
    import structlog
    structlog.get_logger().error("message.parsing.failed", user_text=f"/x {PAN} {MAIL}")
thread = threading.Thread(target=lambda: 1 / 0 if PAN else None, name="worker")
thread.start()
thread.join()


class FullDisk:  # a write that fails: logging's own error report would print the raw arguments
    def write(self, text: str) -> None:
        sys.stderr = sys.__stderr__
        raise OSError("No space left on device")

    def flush(self) -> None:
        pass


class Dying:  # finalised while the interpreter shuts down: sys.unraisablehook, with imports no longer working
    def __del__(self) -> None:
        raise ValueError(f"closing the session of {PHONE}")


dying = Dying()
sys.stderr = FullDisk()
log.info("lost line for %s", PAN)
root = logging.getLogger()
print(json.dumps({
    "root": [type(h).__name__ for h in root.handlers],
    "own_handlers": {name: [type(h).__name__ for h in logging.getLogger(name).handlers]
                     for name in ("sanic.root", "sanic.error", "sanic.access", "rasa")},
    "showwarning": warnings.showwarning.__name__,
}))
raise RuntimeError(f"fatal for {MAIL}")
'''


def run_probe(order: str, **env: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Run the probe; returns its stderr as parsed JSON lines, its stdout summary, and everything it wrote."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, order], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
        env=base_env({"LOG_LEVEL": "INFO", "TF_CPP_MIN_LOG_LEVEL": "2", "FORCE_JSON_LOGGING": "1", **env}),
    )
    assert result.returncode == 1, result.stderr[-3000:]  # the deliberate crash at the end
    lines = [parse_line(line) for line in result.stderr.splitlines()]
    *printed, last = result.stdout.splitlines() or [""]
    assert not printed, f"written to stdout around the JSON handler: {printed}"
    return lines, json.loads(last), result.stdout + result.stderr


def parse_line(line: str) -> dict[str, Any]:
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    assert isinstance(parsed, dict), f"not a JSON object on stderr: {line!r}"
    return parsed


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked:\n{text[-3000:]}"


@pytest.mark.parametrize("order", ["rasa-first", "ours-first"])
def test_every_path_gives_masked_json_lines(order: str) -> None:
    lines, summary, everything = run_probe(order)
    assert_no_secret(everything)
    for line in lines:
        assert line["service"] == "probe" and line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert TS.match(line["ts"]) and isinstance(line["logger"], str) and isinstance(line["message"], str)
    by_logger: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_logger.setdefault(line["logger"], []).append(line)
    first = by_logger["probe"][0]
    assert first["message"] == "investor 91XXXXXX3210 pan ABXXXXX34F mail r*******@example.com code XXXXXX"
    assert first["correlation_id"] == "corr-1"
    assert "ABXXXXX34F" in by_logger["rasa.core.processor"][0]["message"]
    assert "r*******%40example.com" in by_logger["sanic.error"][0]["message"]
    failed = next(line for line in by_logger["probe"] if line["message"] == "verification failed")
    assert "ValueError: cannot verify ABXXXXX34F / 91XXXXXX3210 / r*******@example.com / XXXXXX" in failed["exc"]
    assert failed["stack"].startswith("Stack (most recent call last)")
    warned = [line["message"] for line in by_logger["py.warnings"]]
    assert len(warned) == 3 and all("ABXXXXX34F" in w for w in warned), warned
    assert any("arguments that do not fit" in line["message"] for line in by_logger["probe"])
    assert any("Leaky(91XXXXXX3210)" in line["message"] for line in by_logger["probe"])
    remote = by_logger["probe.remote"][0]
    assert remote["exc"] == "Traceback: r*******@example.com" and remote["stack"] == "Stack: ABXXXXX34F"
    assert "ZeroDivisionError" in by_logger["uncaught"][0]["exc"] and "worker" in by_logger["uncaught"][0]["message"]
    assert by_logger["logging"][0]["message"].startswith("a record of probe could not be written")
    crash = next(line for line in by_logger["uncaught"] if line["level"] == "CRITICAL")
    assert "ValueError: closing the session of 91XXXXXX3210" in by_logger["unraisable"][0]["exc"]
    assert crash["level"] == "CRITICAL" and "RuntimeError: fatal for r*******@example.com" in crash["exc"]
    assert summary["root"] == ["JsonStderrHandler"] and summary["showwarning"] == "_log_warning"
    assert all(set(handlers) <= {"NullHandler"} for handlers in summary["own_handlers"].values()), summary


def test_rasa_structlog_events_are_masked_inside_the_line() -> None:
    lines, _, _ = run_probe("rasa-first")
    parsing = [line for line in lines if "message.parsing.failed" in line["message"]]
    assert parsing and "ABXXXXX34F" in parsing[0]["message"] and "r*******@example.com" in parsing[0]["message"]


def test_log_level_is_honoured_and_a_bad_one_is_reported() -> None:
    quiet, _, _ = run_probe("ours-first", LOG_LEVEL="warning")
    assert quiet and all(line["level"] in {"WARNING", "ERROR", "CRITICAL"} for line in quiet)
    typo, _, _ = run_probe("ours-first", LOG_LEVEL="loud")
    assert any(line["level"] == "ERROR" and "LOG_LEVEL" in line["message"] for line in typo)
    assert any(line["level"] == "INFO" and line["logger"] == "probe" for line in typo)
