"""The host link's frame format: the one definition the gateware, the testbench and the host
client share (``docs/host-link.md`` says the same in words).

Every frame, in both directions::

    SYNC  TYPE  LEN_LO  LEN_HI  PAYLOAD[LEN]  CRC

``SYNC`` is :data:`SYNC_REQUEST` (host -> board) or :data:`SYNC_REPLY` (board -> host).
``CRC`` is CRC-8 (polynomial x^8 + x^2 + x + 1 = 0x07, initial value 0, no reflection, no
final xor: "CRC-8/SMBUS") over ``TYPE``, ``LEN_LO``, ``LEN_HI`` and the payload.

Requests and their replies:

* ``INFO`` (no payload) -> ``INFO`` reply: :class:`Info` (:data:`INFO_LEN` bytes).
* ``CLASSIFY`` (``features`` bytes, one pixel each, ``< 2**pixel_bits``) -> ``RESULT``:
  ``T * classes`` scores, time step major (``t0 c0, t0 c1, ...``), each ``score_bytes``
  bytes little-endian two's complement, then the predicted class (1 byte).
* Anything wrong -> ``NAK`` with a one-byte :class:`Nak` code.  After a header error the
  board discards input until the line has been quiet for :data:`QUIET_BITS` bit times and
  only then answers, so the rest of a bad frame is never taken for a new one.

The board serves one request at a time: bytes that arrive while it works on a request (or
sends its reply) are discarded.  A host waits for the reply before the next request.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

SYNC_REQUEST = 0xA5
SYNC_REPLY = 0x5A
CRC_POLY = 0x07
VERSION = 1
#: The line must be quiet this many bit times before a NAK for a bad header is sent, and a
#: frame that stalls this long is abandoned (``Nak.TIMEOUT``).
QUIET_BITS = 32
HEADER_LEN = 4          # SYNC, TYPE, LEN_LO, LEN_HI
MAX_LEN = 0xFFFF


class Request(enum.IntEnum):
    INFO = 0x01
    CLASSIFY = 0x02


class Reply(enum.IntEnum):
    INFO = 0x81
    RESULT = 0x82
    NAK = 0x7F


class Nak(enum.IntEnum):
    """Why a request was rejected."""
    CRC = 1          # checksum mismatch
    TYPE = 2         # unknown request type
    LENGTH = 3       # LEN is not what the request type needs
    PIXEL = 4        # a pixel does not fit in pixel_bits
    FRAMING = 5      # a UART byte had a bad stop bit
    TIMEOUT = 6      # the frame stalled for QUIET_BITS bit times


class ProtocolError(ValueError):
    """A reply that does not parse (bad sync, CRC, type or length), or a NAK."""

    def __init__(self, message: str, *, nak: Nak | None = None):
        super().__init__(message)
        self.nak = nak


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8/SMBUS of ``data`` (continuing from ``crc``)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def frame(sync: int, kind: int, payload: bytes = b"") -> bytes:
    """A whole frame: header, payload and CRC."""
    if len(payload) > MAX_LEN:
        raise ValueError(f"payload must be at most {MAX_LEN} bytes, not {len(payload)}")
    body = bytes([kind]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([sync]) + body + bytes([crc8(body)])


@dataclass(frozen=True, kw_only=True)
class Info:
    """What the board says about the network it carries (the ``INFO`` reply's payload)."""
    version: int
    pixel_bits: int
    features: int
    classes: int
    T: int
    score_bytes: int
    model_id: bytes          # the first 4 bytes of the bundle's sha256
    clock_hz: int

    FORMAT = "<BBHBBB4sI"

    def pack(self) -> bytes:
        return struct.pack(self.FORMAT, self.version, self.pixel_bits, self.features, self.classes,
                           self.T, self.score_bytes, self.model_id, self.clock_hz)

    @classmethod
    def unpack(cls, payload: bytes) -> "Info":
        if len(payload) != INFO_LEN:
            raise ProtocolError(f"INFO payload must be {INFO_LEN} bytes, not {len(payload)}")
        v, pb, f, c, t, sb, mid, hz = struct.unpack(cls.FORMAT, payload)
        return cls(version=v, pixel_bits=pb, features=f, classes=c, T=t, score_bytes=sb,
                   model_id=mid, clock_hz=hz)

    @property
    def result_len(self) -> int:
        return self.T * self.classes * self.score_bytes + 1


INFO_LEN = struct.calcsize(Info.FORMAT)


def score_bytes(score_bits: int) -> int:
    return -(-score_bits // 8)


def model_id(bundle_sha256: str) -> bytes:
    """The 4-byte model id the board reports: the first bytes of the bundle's sha256."""
    return bytes.fromhex(bundle_sha256[:8])


# ----------------------------------------------------------------------------- requests

def info_request() -> bytes:
    return frame(SYNC_REQUEST, Request.INFO)


def classify_request(image, *, pixel_bits: int) -> bytes:
    """A ``CLASSIFY`` frame for one image (flattened C, H, W; unsigned pixels)."""
    px = np.asarray(image).reshape(-1)
    if px.size and (px.min() < 0 or px.max() >= 1 << pixel_bits):
        raise ValueError(f"pixels must lie in 0..{(1 << pixel_bits) - 1}, "
                         f"not {int(px.min())}..{int(px.max())}")
    if pixel_bits > 8:
        raise ValueError(f"the host link carries pixels of at most 8 bits, not {pixel_bits}")
    return frame(SYNC_REQUEST, Request.CLASSIFY, bytes(int(p) for p in px))


# ------------------------------------------------------------------------------ replies

@dataclass(frozen=True)
class Result:
    label: int
    scores: np.ndarray       # int64 [T, classes]


def split_frame(data: bytes, *, sync: int = SYNC_REPLY) -> tuple[int, bytes, bytes]:
    """``(type, payload, rest)`` of the first whole frame at the start of ``data``."""
    if len(data) < HEADER_LEN + 1:
        raise ProtocolError(f"a frame needs at least {HEADER_LEN + 1} bytes, got {len(data)}")
    if data[0] != sync:
        raise ProtocolError(f"frame starts with 0x{data[0]:02X}, not sync 0x{sync:02X}")
    kind = data[1]
    (n,) = struct.unpack("<H", data[2:4])
    end = HEADER_LEN + n
    if len(data) < end + 1:
        raise ProtocolError(f"frame of type 0x{kind:02X} announces {n} payload bytes, "
                            f"got {len(data) - HEADER_LEN - 1}")
    want = crc8(data[1:end])
    if data[end] != want:
        raise ProtocolError(f"frame CRC 0x{data[end]:02X} != computed 0x{want:02X}")
    return kind, bytes(data[HEADER_LEN:end]), bytes(data[end + 1:])


def check_nak(kind: int, payload: bytes) -> None:
    if kind == Reply.NAK:
        code = payload[0] if payload else 0
        try:
            nak = Nak(code)
        except ValueError:
            raise ProtocolError(f"board answered NAK with unknown code {code}") from None
        raise ProtocolError(f"board answered NAK {nak.name} ({code})", nak=nak)


def parse_result(kind: int, payload: bytes, *, T: int, classes: int, score_bytes: int) -> Result:
    check_nak(kind, payload)
    if kind != Reply.RESULT:
        raise ProtocolError(f"expected a RESULT reply (0x{Reply.RESULT:02X}), got type 0x{kind:02X}")
    n = T * classes
    if len(payload) != n * score_bytes + 1:
        raise ProtocolError(f"RESULT payload must be {n * score_bytes + 1} bytes, not {len(payload)}")
    scores = np.array([int.from_bytes(payload[i * score_bytes:(i + 1) * score_bytes], "little", signed=True)
                       for i in range(n)], np.int64).reshape(T, classes)
    return Result(label=payload[-1], scores=scores)


def parse_info(kind: int, payload: bytes) -> Info:
    check_nak(kind, payload)
    if kind != Reply.INFO:
        raise ProtocolError(f"expected an INFO reply (0x{Reply.INFO:02X}), got type 0x{kind:02X}")
    return Info.unpack(payload)
