"""host.client against recorded bytes, not against a model built from the same code.

The fake port replays reply frames written out byte by byte below (the frame format of
``docs/host-link.md``; their CRCs computed by this file's own CRC-8, a polynomial long
division checked against the catalogue's check value) and records what the client writes.
So the client's framing, parsing and comparison are each checked against values known
independently of host.protocol and of the golden executor: the request bytes, the scores and
class a reply carries, a damaged or short reply refused, resends after NAK CRC only, a score
or class that differs from the run's recorded vectors reported with its image, step and
neuron, another network refused.  The gateware side of the same protocol is tested under
Verilator in test_system_sim.py."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from golden.bundle import bundle_hash
from host import client as C
from host import protocol as P


def _crc8(data: bytes) -> int:
    """CRC-8/SMBUS as its definition says: the remainder of ``data * x^8`` divided by
    ``x^8 + x^2 + x + 1`` (no reflection, initial value 0, no final xor)."""
    n, bits = int.from_bytes(data, "big") << 8, 8 * len(data) + 8
    for i in range(bits - 1, 7, -1):
        if n >> i & 1:
            n ^= 0x107 << (i - 8)
    return n


def _frame(sync: int, kind: int, payload: bytes) -> bytes:
    body = bytes([kind]) + struct.pack("<H", len(payload)) + payload
    return bytes([sync]) + body + bytes([_crc8(body)])


def _hex(s: str) -> bytes:
    return bytes.fromhex(s)


# A toy network: 3 pixels of 4 bits, 3 classes, T = 2, 4-byte scores, model id de ad be ef, 24 MHz.
INFO_REQUEST = _hex("a5 01 00 00 6b")
CLASSIFY_123 = _hex("a5 02 03 00 01 02 03 bc")                     # the image [1, 2, 3]
INFO_REPLY = _hex("5a 81 0f 00  01 04 03 00 03 02 04 de ad be ef 00 36 6e 01  14")
# scores [[1, -2, 300], [-70000, 0, 5]] (step major, little-endian two's complement), class 2
RESULT_REPLY = _hex("5a 82 19 00  01 00 00 00 fe ff ff ff 2c 01 00 00 90 ee fe ff 00 00 00 00 05 00 00 00"
                    "  02  19")
SHORT_RESULT = _hex("5a 82 15 00  01 00 00 00 fe ff ff ff 2c 01 00 00 90 ee fe ff 00 00 00 00 05  95")
NAK_CRC = _hex("5a 7f 01 00 01 8c")
NAK_PIXEL = _hex("5a 7f 01 00 04 97")


class ReplayPort:
    """A serial port that answers each frame written to it with the next recorded reply."""

    def __init__(self, replies=()):
        self.replies = list(replies)
        self.written = []
        self.out = bytearray()

    def write(self, data: bytes):
        self.written.append(bytes(data))
        if self.replies:
            self.out += self.replies.pop(0)

    def read(self, n: int) -> bytes:
        data, self.out[:] = bytes(self.out[:n]), self.out[n:]
        return data

    def reset_input_buffer(self):
        self.out.clear()


def test_the_recorded_frames_are_well_formed():
    """This file's CRC is CRC-8/SMBUS (catalogue check value), and the recorded frames carry it."""
    assert _crc8(b"123456789") == 0xF4
    for f in (INFO_REQUEST, CLASSIFY_123, INFO_REPLY, RESULT_REPLY, SHORT_RESULT, NAK_CRC, NAK_PIXEL):
        assert _crc8(f[1:-1]) == f[-1] and int.from_bytes(f[2:4], "little") == len(f) - 5, f.hex(" ")


def test_client_sends_and_reads_the_documented_bytes():
    port = ReplayPort([b"\x00\x13\xa5" + INFO_REPLY, RESULT_REPLY])      # noise before a sync is skipped
    client = C.BoardClient(port, timeout_s=1)
    info = client.get_info()
    assert (info.version, info.pixel_bits, info.features, info.classes, info.T, info.score_bytes) == (1, 4, 3, 3, 2, 4)
    assert info.model_id == b"\xde\xad\xbe\xef" and info.clock_hz == 24_000_000
    r = client.classify(np.array([1, 2, 3]))
    assert port.written == [INFO_REQUEST, CLASSIFY_123]
    assert r.scores.tolist() == [[1, -2, 300], [-70000, 0, 5]] and r.label == 2


def test_a_damaged_or_short_reply_is_refused():
    bad = bytearray(RESULT_REPLY)
    bad[9] ^= 0x10                                                   # one payload bit flipped in transit
    for reply, message in ((bytes(bad), "frame CRC 0x19 != computed"),
                           (SHORT_RESULT, "RESULT payload must be 25 bytes, not 21")):
        client = C.BoardClient(ReplayPort([INFO_REPLY, reply]), timeout_s=1)
        with pytest.raises(P.ProtocolError, match=message):
            client.classify(np.array([1, 2, 3]))


def test_resend_after_nak_crc_but_not_after_nak_pixel():
    port = ReplayPort([INFO_REPLY, NAK_CRC, RESULT_REPLY])
    r = C.BoardClient(port, timeout_s=1).classify(np.array([1, 2, 3]))
    assert port.written == [INFO_REQUEST, CLASSIFY_123, CLASSIFY_123]
    assert r.scores.tolist() == [[1, -2, 300], [-70000, 0, 5]] and r.label == 2
    port = ReplayPort([INFO_REPLY, NAK_PIXEL, RESULT_REPLY])
    with pytest.raises(P.ProtocolError, match=r"NAK PIXEL \(4\)") as e:
        C.BoardClient(port, timeout_s=1).classify(np.array([1, 2, 3]))
    assert e.value.nak == P.Nak.PIXEL and port.written == [INFO_REQUEST, CLASSIFY_123]


# ---------------------------------------------------------------------------------------------
# classify_run on the digits run: the board replays the scores and classes recorded in the run's
# vector file (what the RTL is checked against bit for bit), some deliberately wrong


def _digits_board(digits_bundle, digits_run, n, *, model_id=None, wrong_score=None, wrong_class=None):
    vec = np.load(digits_run["dir"] / "vectors.npz")
    b = digits_bundle
    mid = model_id if model_id is not None else bytes.fromhex(bundle_hash(digits_run["dir"] / "model")[:8])
    info = struct.pack("<BBHBBB4sI", 1, b.input.bits, b.input.features, b.classes, b.T, 4, mid, 24_000_000)
    replies = [_frame(0x5A, 0x81, info)]
    for i in range(n):
        scores = vec["scores"][i].astype(np.int64).copy()          # [T, classes]
        label = int(vec["classes"][i])
        if wrong_score is not None and wrong_score[0] == i:
            scores[wrong_score[1:]] += 1
        if wrong_class is not None and wrong_class == i:
            label = (label + 1) % b.classes
        payload = b"".join(struct.pack("<i", int(s)) for s in scores.reshape(-1)) + bytes([label])
        replies.append(_frame(0x5A, 0x82, payload))
    return ReplayPort(replies), vec


def test_classify_run_agrees_with_the_recorded_vectors(digits_bundle, digits_run):
    port, vec = _digits_board(digits_bundle, digits_run, 5)
    client = C.BoardClient(port, timeout_s=1)
    r = C.classify_run(client, digits_run["dir"], n=5, say=lambda s: None)
    assert r["images"] == 5 and r["mismatches"] == 0 and r["details"] == []
    assert r["accuracy"] == pytest.approx(float((vec["classes"][:5] == vec["labels"][:5]).mean()))
    assert r["clock_hz"] == 24_000_000
    # what went out: INFO, then each image as a CLASSIFY frame of its pixels, one byte each
    assert port.written[0] == INFO_REQUEST
    for i, f in enumerate(port.written[1:]):
        assert f == _frame(0xA5, 0x02, bytes(int(p) for p in vec["images"][i])), i


def test_a_wrong_score_or_class_is_reported_by_image(digits_bundle, digits_run):
    port, vec = _digits_board(digits_bundle, digits_run, 4, wrong_score=(2, 3, 5), wrong_class=1)
    r = C.classify_run(C.BoardClient(port, timeout_s=1), digits_run["dir"], n=4, say=lambda s: None)
    assert r["mismatches"] == 2
    got, want = int(vec["scores"][2, 3, 5]) + 1, int(vec["scores"][2, 3, 5])
    assert r["details"] == [f"image 1: board class {(int(vec['classes'][1]) + 1) % digits_bundle.classes} "
                            f"!= golden {vec['classes'][1]}",
                            f"image 2, layer readout, time step 3, neuron 5: board {got} != golden {want}"]


def test_another_network_is_refused(digits_bundle, digits_run):
    port, _ = _digits_board(digits_bundle, digits_run, 1, model_id=b"\0\0\0\0")
    with pytest.raises(ValueError, match="different network: model_id 00000000"):
        C.classify_run(C.BoardClient(port, timeout_s=1), digits_run["dir"], n=1, say=lambda s: None)
    assert len(port.written) == 1                                    # no image sent


def test_no_reply_times_out():
    client = C.BoardClient(ReplayPort(), timeout_s=0.05)
    with pytest.raises(TimeoutError, match="no reply from the board within 0.05 s"):
        client.read_frame()


def test_cli_bad_port_is_one_line(capsys):
    rc = C.main(["info", "--port", "/dev/nonexistent-hdlif-port"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and err.strip().count("\n") == 0
