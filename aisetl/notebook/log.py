"""The one place a served server's log records go: a bounded log of that server, shown by its widget.

A record belongs to a server when it is written in that server's context: its uvicorn thread and its
transform threads run in a copy of the context that `ServerLog.running_in` set when the server was
started, so a record from one of them finds its log through a context variable, whatever logger it
went to under `aisetl` or `uvicorn`, and two servers of one class keep separate logs.

Nothing is printed per record. In a kernel, a record with no handler would fall to Python's last-resort
handler and print to the cell that started the server, tracebacks and all, once per failed object (the
flood this module exists to stop). Instead, the first warning or error of a server whose widget is not
shown prints one line there, saying where the rest is.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOG_LINES = 500
# The loggers a server writes to: aisetl's own (the server's `logger` is `aisetl.<class>`) and uvicorn's.
LOGGERS = ("aisetl", "uvicorn")

_current: contextvars.ContextVar[ServerLog | None] = contextvars.ContextVar("aisetl_server_log", default=None)


class ServerLog(logging.Handler):
    """The last LOG_LINES log lines of one server, and how many warnings and errors it logged."""

    def __init__(self, name: str, shown: Callable[[], bool]) -> None:
        super().__init__(logging.NOTSET)
        self.name = name
        self.shown = shown  # is the server's widget on screen? then the widget is where the log is read
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.problems = 0
        self.written = 0
        self._noticed = False

    @contextmanager
    def running_in(self) -> Iterator[None]:
        """Attach to the loggers; threads started inside this block log here (their context is copied)."""
        token = _current.set(self)
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self)
        try:
            yield
        except BaseException:  # the server did not start: nothing will log here
            self.detach()
            raise
        finally:
            _current.reset(token)

    def detach(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def filter(self, record: logging.LogRecord) -> bool:
        return _current.get() is self

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname} "
            line += record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                # exc_text, when set, was redacted by the server's logger (no ETL secret or token here).
                last = (record.exc_text or "").strip().splitlines()[-1:]
                exc = last[0] if last else f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
                if exc not in line:
                    line += f" [{exc}]"  # its traceback is with the server's errors
            self.lines.append(line)
            self.written += 1
            if record.levelno >= logging.WARNING:
                self.problems += 1
                if not self._noticed and not self.shown():
                    self._noticed = True
                    print(
                        f"aisetl: server {self.name!r}: {line} -- this and what follows is kept in the .log of its "
                        "handle; display the handle to watch it live (said once)",
                        file=sys.stderr,
                    )
        except Exception:  # a logging handler must never raise into the server
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        if not self.lines:
            return f"<log of server {self.name!r}: empty>"
        kept = f"the last {len(self.lines)} of {self.written}" if self.written > len(self.lines) else self.written
        return f"<log of server {self.name!r}: {kept} lines>\n" + self.text()
