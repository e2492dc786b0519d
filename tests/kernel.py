"""A real IPython kernel (ipykernel, via jupyter_client) to run notebook cells in, for tests."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class CellResult:
    status: str
    msg_id: str = ""
    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def value(self) -> str:
        """The text/plain of the cell's result (its last expression)."""
        for out in self.outputs:
            if out.get("msg_type") == "execute_result":
                return str(out["content"]["data"].get("text/plain", ""))
        return ""


class Kernel:
    def __init__(self, km: KernelManager) -> None:
        self.km = km
        self.client = km.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []  # every iopub message seen, of any cell

    def drain(self, seconds: float) -> None:
        """Collect iopub messages for a while (output that arrives after its cell ended)."""
        while True:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=seconds))
            except queue.Empty:
                return

    def stdout_of(self, msg_id: str) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id
        )

    def run(self, code: str, timeout: float = 60) -> CellResult:
        msg_id = self.client.execute(code)
        result = CellResult(status="timeout", msg_id=msg_id)
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                return result
            self.messages.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    result.stdout += content["text"]
                else:
                    result.stderr += content["text"]
            elif kind in ("execute_result", "display_data"):
                result.outputs.append({"msg_type": kind, "content": content})
            elif kind == "error":
                result.error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                # The shell reply of this cell: on a loaded machine wait_for_ready may have sent more than
                # one kernel_info request, and their late replies ("ok") are still queued before it.
                while True:
                    reply = self.client.get_shell_msg(timeout=timeout)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                result.status = reply["content"]["status"]
                return result

    def check(self, code: str, timeout: float = 60) -> CellResult:
        """Run a cell that must not fail."""
        result = self.run(code, timeout)
        if result.status != "ok":
            raise AssertionError(f"cell failed ({result.status}):\n{code}\n{result.error}\n{result.stderr}")
        return result


@contextmanager
def kernel() -> Iterator[Kernel]:
    km = KernelManager(kernel_name="python3")  # the running interpreter, with ipykernel
    km.start_kernel()
    k = Kernel(km)
    try:
        yield k
    finally:
        k.client.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=False)
