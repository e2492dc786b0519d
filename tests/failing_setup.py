"""An @etl server whose setup hook fails, as a model that cannot load does (for `aisetl serve`)."""

from __future__ import annotations

import aisetl


def load_model() -> object:
    raise RuntimeError("model weights not found at /models/missing.bin")


@aisetl.etl(name="failing-setup", setup=load_model)
def predict(data: bytes, state: object) -> bytes:
    return data
