"""Deterministic training-memory measurement: the bytes autograd keeps for backward.

:class:`SavedTensorMeter` installs ``torch.autograd.graph.saved_tensors_hooks`` and follows
every tensor the forward pass saves for backward: its bytes are counted while the graph node
that saved it is alive (the packed handle is released when the node is freed, CPython's
reference counting makes that immediate), each storage once however many nodes share it.
``peak_bytes`` is the largest total reached, the activation memory of a training step, the
quantity that grows with ``T`` under STBP and must not under online training.  It does not
depend on the allocator, the device or other processes, so the same step gives the same
number every time.
"""

from __future__ import annotations

import torch


class _Handle:
    __slots__ = ("meter", "key", "tensor")

    def __init__(self, meter: "SavedTensorMeter", key, tensor: torch.Tensor):
        self.meter, self.key, self.tensor = meter, key, tensor

    def __del__(self):
        self.meter._release(self.key)


class SavedTensorMeter:
    """Context manager: ``with SavedTensorMeter() as m: loss = f(); loss.backward()``, then
    ``m.peak_bytes`` (largest live total) and ``m.total_bytes`` (everything ever saved)."""

    def __init__(self):
        self.live_bytes = 0
        self.peak_bytes = 0
        self.total_bytes = 0
        self._refs: dict = {}          # storage key -> [count, nbytes]
        self._hooks = None

    def _pack(self, t: torch.Tensor):
        try:
            st = t.untyped_storage()
            key = (t.device.type, t.device.index, st.data_ptr())
            nbytes = st.nbytes()
        except (RuntimeError, NotImplementedError):   # tensors without storage (e.g. sparse)
            key, nbytes = ("id", id(t)), t.numel() * t.element_size()
        ref = self._refs.get(key)
        if ref is None:
            self._refs[key] = [1, nbytes]
            self.live_bytes += nbytes
            self.total_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        else:
            ref[0] += 1
        return _Handle(self, key, t)

    @staticmethod
    def _unpack(h: _Handle) -> torch.Tensor:
        return h.tensor

    def _release(self, key) -> None:
        ref = self._refs.get(key)
        if ref is None:
            return
        ref[0] -= 1
        if ref[0] == 0:
            del self._refs[key]
            self.live_bytes -= ref[1]

    def __enter__(self) -> "SavedTensorMeter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
