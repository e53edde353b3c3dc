"""The one logging setup every process calls: JSON lines on stderr, PII masked in every line.

`configure_logging(service)` gives the root logger exactly one handler, on stderr, whose formatter writes one
JSON object per line and masks PII (common.pii, strict) in the rendered message, the traceback and the stack:

    {"ts": "2025-01-31T09:15:02.123Z", "level": "INFO", "service": "handoff", "logger": "handoff.app",
     "message": "...", "correlation_id": "...", "exc": "Traceback ...", "stack": "Stack (most recent ..."}

(`correlation_id`, `exc` and `stack` only when there is one.) Masking lives in the formatter, so no call
site has to remember it, and everything that could print around it is routed through it:

- handlers that Rasa, Sanic, coloredlogs or anyone else put on a logger and that write to the console are
  removed (the logger then propagates to the root handler); any other handler (a file, syslog) gets the
  masking formatter. Sanic's default logging config is emptied, so a Sanic app created later installs no
  handlers of its own either;
- Python warnings (`logging.captureWarnings`, and `warnings.showwarning` always logs, even to a `file`);
- `logging.lastResort` (a logger that does not propagate and has no handler), uncaught exceptions in the
  main thread and in threads, and "exception ignored" reports (`sys.unraisablehook`);
- a record that fails to render, or a write that fails, never falls back to logging's raw error report.

Idempotent: calling it again (after a library configured its own loggers) takes those over again and keeps
the one root handler. LOG_LEVEL (default INFO) sets the level of the root logger and of that handler. Lines
are ASCII (JSON escapes the rest), so no stderr encoding can refuse one.

The correlation id of the message being handled lives in a ContextVar: `set_correlation_id()` where a message
enters a process (the webhook, a consumed delivery, an action call), or `with correlated(id):` around the work on
one message, read by the formatter on every line. It is the WhatsApp message id (docs/observability.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TextIO

from common.pii import mask_text

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
CORRELATION_HEADER = "X-Correlation-Id"  # how the id crosses an HTTP hop (action server -> account API; Graph API)

DEFAULT_LEVEL = "INFO"
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access")


# What a correlation id may look like: a WhatsApp message id (`wamid.` + base64), a UUID or hex id of ours. Ids
# come from callers (an action call's tracker, an event's metadata); anything else is dropped, not logged, so a
# caller cannot put PII, line breaks or megabytes into every line (or into an X-Correlation-Id header).
CORRELATION_ID_RE = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def clean_correlation_id(value: object) -> str | None:
    """`value` if it has the shape of a correlation id, else None."""
    return value if isinstance(value, str) and CORRELATION_ID_RE.fullmatch(value) else None


def set_correlation_id(value: str | None) -> contextvars.Token[str | None]:
    """Set the id for the current context (task, thread); returns the token for `correlation_id.reset`. An id
    of the wrong shape (CORRELATION_ID_RE) is treated as none."""
    return correlation_id.set(clean_correlation_id(value))


def get_correlation_id() -> str | None:
    return correlation_id.get()


@contextlib.contextmanager
def correlated(value: str | None) -> Iterator[None]:
    """Lines logged inside carry `value` as their correlation id (the previous one is back afterwards)."""
    token = correlation_id.set(clean_correlation_id(value))
    try:
        yield
    finally:
        correlation_id.reset(token)


def mask(text: str) -> str:
    """What every log line goes through: the strict masking of common.pii (one-time codes included)."""
    return mask_text(text, strict=True)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; PII masked in the message, the exception and the stack."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": mask(_render(record)),
        }
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        if cid:
            entry["correlation_id"] = mask(str(cid))
        exc = self._exception_text(record)
        if exc:
            entry["exc"] = mask(exc)
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str)  # ASCII: no stderr encoding can fail on it

    def _exception_text(self, record: logging.LogRecord) -> str:
        if record.exc_info:
            try:
                return self.formatException(record.exc_info)
            except Exception:  # a traceback that cannot be rendered: its type and message still go out (masked)
                return f"{record.exc_info[0]!r}: {record.exc_info[1]!r}"
        return record.exc_text or ""


def _timestamp(created: float) -> str:
    """UTC, milliseconds: 2025-01-31T09:15:02.123Z (no strftime: it imports, which fails while Python shuts down)."""
    t = time.gmtime(created)
    millis = int(created % 1 * 1000)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"


def _render(record: logging.LogRecord) -> str:
    """The message with its arguments; a record whose arguments do not fit its format still renders."""
    try:
        return record.getMessage()
    except Exception as exc:
        return f"unrenderable log message ({exc!r}): {_safe_repr(record.msg)} % {_safe_repr(record.args)}"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} whose repr fails>"


class JsonStderrHandler(logging.StreamHandler):
    """The root handler: whatever `sys.stderr` is at the time of writing, never logging's raw error report."""

    def __init__(self, formatter: JsonFormatter, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)
        self.setFormatter(formatter)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    def handleError(self, record: logging.LogRecord) -> None:
        """Logging's default prints the traceback, the raw message and its arguments: PII. One masked line."""
        with contextlib.suppress(Exception):  # stderr itself is gone: nothing left to tell
            service = self.formatter.service if isinstance(self.formatter, JsonFormatter) else ""
            line = {"ts": _timestamp(time.time()), "level": "ERROR", "service": service, "logger": "logging",
                    "message": mask(f"a record of {record.name} could not be written: {sys.exc_info()[1]!r}")}
            sys.stderr.write(json.dumps(line) + "\n")


def configure_logging(service: str) -> None:
    """Route every log line, warning and uncaught exception of this process through one masking JSON handler."""
    formatter = JsonFormatter(service)
    level_name = _level_name()
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, JsonStderrHandler)]
    for handler in ours[1:]:
        root.removeHandler(handler)
    handler = ours[0] if ours else JsonStderrHandler(formatter)
    handler.setFormatter(formatter)
    handler.setLevel(level_name or DEFAULT_LEVEL)  # also for loggers with a lower level of their own (Sanic's)
    if not ours:
        root.addHandler(handler)
    root.setLevel(level_name or DEFAULT_LEVEL)
    for logger in [root, *_existing_loggers()]:
        _take_over(logger, formatter)
    _empty_sanic_defaults()
    logging.lastResort = JsonStderrHandler(formatter, logging.WARNING)
    _route_warnings()
    _route_uncaught()
    if level_name is None:
        logging.getLogger(__name__).error("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL; using INFO")


def _level_name() -> str | None:
    """LOG_LEVEL, upper-cased; None when it is not a level name."""
    raw = (os.environ.get("LOG_LEVEL") or DEFAULT_LEVEL).strip().upper()
    return raw if isinstance(logging.getLevelName(raw), int) else None


def _existing_loggers() -> list[logging.Logger]:
    return [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]


def _writes_to_console(handler: logging.Handler) -> bool:
    if isinstance(handler, JsonStderrHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    if isinstance(handler, logging.FileHandler):
        return False
    stream = getattr(handler, "stream", None)
    return stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def _take_over(logger: logging.Logger, formatter: JsonFormatter) -> None:
    """Console handlers go (the logger propagates to the root's handler instead); any other one masks too."""
    for handler in list(logger.handlers):
        if _writes_to_console(handler):
            logger.removeHandler(handler)
            logger.propagate = True  # Rasa turns propagation off for Sanic's loggers after giving them handlers
        elif not isinstance(handler, JsonStderrHandler | logging.NullHandler):
            handler.setFormatter(formatter)


def _empty_sanic_defaults() -> None:
    """`Sanic(name)` (configure_logging=True) applies LOGGING_CONFIG_DEFAULTS: console handlers on its loggers.

    Emptied in place, a later app's dictConfig leaves those loggers without handlers, propagating to ours."""
    try:
        import sanic.log as sanic_log
    except ImportError:  # a process without Sanic
        return
    for name in SANIC_LOGGERS:
        config = sanic_log.LOGGING_CONFIG_DEFAULTS["loggers"].setdefault(name, {})
        config["handlers"] = []
        config["propagate"] = True


def _route_warnings() -> None:
    logging.captureWarnings(True)
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    file: TextIO | None = None, line: str | None = None,
) -> None:
    """`warnings.showwarning`: always a (masked) log line, even when a caller asks for a `file`."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger("py.warnings").warning("%s", text.rstrip())


def _route_uncaught() -> None:
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("uncaught").critical("uncaught exception; the process exits", exc_info=(kind, exc, tb))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    logging.getLogger("uncaught").error("uncaught exception in thread %s", name, exc_info=exc_info)


def _log_unraisable(unraisable: Any) -> None:
    exc_info = (unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
    logging.getLogger("unraisable").error("%s: %s", unraisable.err_msg or "Exception ignored in",
                                          _safe_repr(unraisable.object),
                                          exc_info=exc_info if unraisable.exc_value is not None else None)
