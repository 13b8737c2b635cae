"""Classify images on a board over its serial port (``pyserial``), with :mod:`host.protocol`.

::

    python -m host.client info --port /dev/ttyUSB1
    python -m host.client classify --port /dev/ttyUSB1 --model runs/demo [--n 20] [--images x.npy]

``classify`` checks first that the board carries the run's network (``INFO``: shapes and the
model id, the bundle's sha256 prefix), then sends the images (the run's test vectors by
default, or an ``.npy`` array ``[N, features]``), and compares every reply with the golden
model: scores per time step and class, bit for bit.  It exits non-zero on any mismatch.
``--port`` takes anything ``serial.serial_for_url`` opens (a device, ``socket://host:port``,
``loop://``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import protocol as P

#: NAKs worth a resend: the frame was damaged on the way, not wrong.
RETRY_NAKS = (P.Nak.CRC, P.Nak.FRAMING, P.Nak.TIMEOUT)


class BoardClient:
    """One board behind a serial port (any object with ``read(n)``, ``write(b)`` and
    ``reset_input_buffer()``, such as ``serial.Serial``)."""

    def __init__(self, port, *, timeout_s: float = 2.0, retries: int = 2):
        self.port = port
        self.timeout_s = timeout_s
        self.retries = retries
        self.info: P.Info | None = None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        out = bytearray()
        while len(out) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply from the board within {self.timeout_s:g} s "
                                   f"(got {len(out)} of {n} bytes)")
            out += self.port.read(n - len(out))
        return bytes(out)

    def read_frame(self) -> tuple[int, bytes]:
        """The next reply frame; bytes before its sync byte are skipped."""
        deadline = time.monotonic() + self.timeout_s
        while self._read_exact(1, deadline)[0] != P.SYNC_REPLY:
            pass
        head = self._read_exact(3, deadline)
        n = int.from_bytes(head[1:3], "little")
        rest = self._read_exact(n + 1, deadline)
        kind, payload, _ = P.split_frame(bytes([P.SYNC_REPLY]) + head + rest)
        return kind, payload

    def request(self, frame: bytes) -> tuple[int, bytes]:
        """Send ``frame`` and return the reply; resend after a NAK for a damaged frame."""
        for attempt in range(self.retries + 1):
            self.port.write(frame)
            kind, payload = self.read_frame()
            if kind == P.Reply.NAK and payload and payload[0] in RETRY_NAKS and attempt < self.retries:
                time.sleep(0.01)
                self.port.reset_input_buffer()
                continue
            return kind, payload
        raise AssertionError("unreachable")

    def get_info(self) -> P.Info:
        self.info = P.parse_info(*self.request(P.info_request()))
        if self.info.version != P.VERSION:
            raise P.ProtocolError(f"board speaks protocol version {self.info.version}, not {P.VERSION}")
        return self.info

    def classify(self, image) -> P.Result:
        info = self.info or self.get_info()
        frame = P.classify_request(image, pixel_bits=info.pixel_bits)
        return P.parse_result(*self.request(frame), T=info.T, classes=info.classes,
                              score_bytes=info.score_bytes)


def check_model(info: P.Info, bundle, sha256: str) -> None:
    """Raise ``ValueError`` naming the difference when the board carries another network."""
    want = {"features": bundle.input.features, "classes": bundle.classes, "T": bundle.T,
            "pixel_bits": bundle.input.bits, "model_id": P.model_id(sha256)}
    for key, value in want.items():
        got = getattr(info, key)
        if got != value:
            show = (lambda v: v.hex()) if isinstance(value, bytes) else repr
            raise ValueError(f"the board carries a different network: {key} {show(got)} "
                             f"!= {show(value)} of the run's bundle")


def classify_run(client: BoardClient, run: Path, *, n: int = 0, images: Path | None = None,
                 say=print) -> dict:
    """Classify ``n`` images of the run (its test vectors, or ``images``) and compare each with
    the golden model; returns ``{images, mismatches, accuracy, details, seconds}``."""
    from golden import executor, load_bundle
    from golden.bundle import bundle_hash

    run = Path(run)
    bundle = load_bundle(run / "model")
    info = client.get_info()
    check_model(info, bundle, bundle_hash(run / "model"))
    labels = None
    if images is None:
        vec = np.load(run / "vectors.npz", allow_pickle=False)
        x, labels = vec["images"], vec["labels"]
    else:
        x = np.load(images, allow_pickle=False).reshape(-1, bundle.input.features)
    x = x[:n] if n else x
    golden = executor.run(bundle, x)
    details, correct = [], 0
    t0 = time.monotonic()
    for i, image in enumerate(x):
        r = client.classify(image)
        bad = np.argwhere(r.scores != golden.scores[i])
        for t, c in bad[:4]:
            details.append(f"image {i}, layer readout, time step {t}, neuron {c}: "
                           f"board {r.scores[t, c]} != golden {golden.scores[i, t, c]}")
        if r.label != golden.classes[i]:
            details.append(f"image {i}: board class {r.label} != golden {golden.classes[i]}")
        correct += int(labels is not None and r.label == labels[i])
        say(f"image {i}: class {r.label}" + ("" if labels is None else f" (label {labels[i]})")
            + ("" if len(bad) == 0 and r.label == golden.classes[i] else "  MISMATCH"))
    seconds = time.monotonic() - t0
    mismatching = {d.split(",")[0].split(":")[0] for d in details}
    return {"images": len(x), "mismatches": len(mismatching), "details": details,
            "accuracy": correct / len(x) if labels is not None and len(x) else None,
            "seconds": round(seconds, 3), "clock_hz": info.clock_hz}


def open_port(port: str, baud: int, timeout_s: float):
    import serial

    return serial.serial_for_url(port, baudrate=baud, timeout=min(timeout_s, 0.1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m host.client",
                                description="Talk to an HD-LIF accelerator board over its UART")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, text in (("info", "what network the board carries"),
                       ("classify", "classify images on the board, checked against the golden model")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--port", required=True, help="serial device or pyserial URL")
        s.add_argument("--baud", type=int, default=115200)
        s.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
        if name == "classify":
            s.add_argument("--model", required=True, help="run folder (runs/<run>) or run name")
            s.add_argument("--n", type=int, default=10, help="images (0 = all)")
            s.add_argument("--images", type=Path, help=".npy array [N, features] instead of the test vectors")
    a = p.parse_args(argv)
    try:
        port = open_port(a.port, a.baud, a.timeout)
        client = BoardClient(port, timeout_s=a.timeout)
        if a.cmd == "info":
            info = client.get_info()
            print(f"protocol {info.version}: {info.features} pixels of {info.pixel_bits} bits -> "
                  f"{info.classes} classes, T={info.T}, scores of {info.score_bytes} bytes, "
                  f"model {info.model_id.hex()}, clock {info.clock_hz / 1e6:g} MHz")
            return 0
        run = Path(a.model)
        if not run.is_dir() and len(run.parts) == 1:
            run = Path("runs") / a.model
        r = classify_run(client, run, n=a.n, images=a.images)
        acc = "" if r["accuracy"] is None else f", accuracy {r['accuracy']:.4f}"
        print(f"{r['images']} images, {r['mismatches']} differ from the golden model{acc}, "
              f"{r['seconds'] / max(1, r['images']) * 1e3:.1f} ms per image")
        for line in r["details"][:10]:
            print(line, file=sys.stderr)
        return 1 if r["mismatches"] else 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, no traceback, non-zero exit
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
