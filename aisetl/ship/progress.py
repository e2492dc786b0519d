"""How a build shows while it runs: in a notebook cell, one line updated per step (and with the latest log
line), then the whole log folded under a summary; in a terminal, a line per step on stderr."""

from __future__ import annotations

import html
import sys
import time
from typing import Any

_UPDATE_EVERY = 0.5  # seconds between live updates of the cell for plain log lines (steps always show)


def _kernel_display() -> Any:
    """IPython's display module when running in a kernel (a notebook), else None."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return None
    shell = shell_module.get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython import display

    return display


class BuildProgress:
    def __init__(self, image: str, enabled: bool | None) -> None:
        self.image = image
        self.enabled = enabled is not False
        self.display = _kernel_display() if self.enabled else None
        self.handle: Any = None
        self.step = ""
        self.last_update = 0.0
        if self.display is not None:
            self.handle = self.display.display(self._bundle(f"building {image}", ""), raw=True, display_id=True)
        elif self.enabled:
            print(f"building {image}", file=sys.stderr, flush=True)

    def _bundle(self, head: str, detail: str) -> dict[str, str]:
        text = head + (f"\n  {detail}" if detail else "")
        body = f"<b>{html.escape(head)}</b>"
        if detail:
            body += f"<br><code style='opacity:.7'>{html.escape(detail[:200])}</code>"
        return {"text/plain": text, "text/html": f"<div>{body}</div>"}

    def line(self, line: str, step: tuple[int, int, str] | None) -> None:
        if not self.enabled:
            return
        if step is not None:
            self.step = f"step {step[0]}/{step[1]}: {step[2]}"
        if self.handle is not None:
            now = time.monotonic()
            if step is not None or now - self.last_update > _UPDATE_EVERY:
                self.last_update = now
                self.handle.update(self._bundle(f"building {self.image}, {self.step}", line.strip()), raw=True)
        elif step is not None:
            print(f"  [{step[0]}/{step[1]}] {step[2]}", file=sys.stderr, flush=True)

    def _folded(self, summary: str, log: str, is_open: bool) -> dict[str, str]:
        attrs = " open" if is_open else ""
        return {
            "text/plain": summary,
            "text/html": f"<details{attrs}><summary>{html.escape(summary)}</summary>"
            f"<pre style='max-height:30em;overflow:auto'>{html.escape(log)}</pre></details>",
        }

    def done(self, name: str, image_id: str, seconds: float, log: str) -> None:
        summary = f"built {name} ({image_id[:19]}) in {seconds:.0f} s"
        if self.handle is not None:
            self.handle.update(self._folded(summary + " - build log", log, is_open=False), raw=True)
        elif self.enabled:
            print(summary, file=sys.stderr, flush=True)

    def failed(self, seconds: float, log: str) -> None:
        summary = f"build of {self.image} failed after {seconds:.0f} s"
        if self.handle is not None:
            self.handle.update(self._folded(summary + " - build log", log, is_open=True), raw=True)
        elif self.enabled:
            print(summary, file=sys.stderr, flush=True)
