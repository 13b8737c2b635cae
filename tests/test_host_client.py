"""host.client against a board model in Python (the golden executor behind host.protocol
frames): INFO, classification checked bit for bit, a resend after a damaged frame, a board
with another network refused, and the CLI's exit codes.  The gateware side of the same
protocol is tested under Verilator in test_system_sim.py."""

from __future__ import annotations

import numpy as np
import pytest

from golden import executor
from golden.bundle import bundle_hash
from host import client as C
from host import protocol as P


class FakeBoard:
    """A serial port with a board behind it: answers each request frame written to it."""

    def __init__(self, bundle, sha, *, corrupt_first=0, wrong_score=None):
        self.bundle, self.sha = bundle, sha
        self.out = bytearray()
        self.corrupt_first = corrupt_first        # NAK CRC for the first k CLASSIFY frames
        self.wrong_score = wrong_score
        self.requests = []

    def write(self, data: bytes):
        kind, payload, _ = P.split_frame(bytes(data), sync=P.SYNC_REQUEST)
        self.requests.append(kind)
        b = self.bundle
        if kind == P.Request.INFO:
            info = P.Info(version=P.VERSION, pixel_bits=b.input.bits, features=b.input.features,
                          classes=b.classes, T=b.T, score_bytes=4, model_id=P.model_id(self.sha),
                          clock_hz=24_000_000)
            self.out += P.frame(P.SYNC_REPLY, P.Reply.INFO, info.pack())
        elif self.corrupt_first:
            self.corrupt_first -= 1
            self.out += b"\x00\x13" + P.frame(P.SYNC_REPLY, P.Reply.NAK, bytes([P.Nak.CRC]))
        else:
            r = executor.run(b, np.frombuffer(payload, np.uint8)[None, :])
            scores = r.scores[0].copy()
            if self.wrong_score is not None:
                scores[self.wrong_score] += 1
            body = b"".join(int(s).to_bytes(4, "little", signed=True) for s in scores.reshape(-1))
            self.out += P.frame(P.SYNC_REPLY, P.Reply.RESULT, body + bytes([int(r.classes[0])]))

    def read(self, n: int) -> bytes:
        data, self.out[:] = bytes(self.out[:n]), self.out[n:]
        return data

    def reset_input_buffer(self):
        self.out.clear()


@pytest.fixture
def board(digits_bundle, digits_run):
    return FakeBoard(digits_bundle, bundle_hash(digits_run["dir"] / "model"))


def test_classify_run_matches_golden(board, digits_run):
    client = C.BoardClient(board, timeout_s=1)
    r = C.classify_run(client, digits_run["dir"], n=6, say=lambda s: None)
    assert r["images"] == 6 and r["mismatches"] == 0 and r["details"] == []
    assert 0 <= r["accuracy"] <= 1
    assert client.info.clock_hz == 24_000_000


def test_resend_after_a_damaged_frame(board, digits_run):
    board.corrupt_first = 1
    r = C.classify_run(C.BoardClient(board, timeout_s=1), digits_run["dir"], n=2, say=lambda s: None)
    assert r["mismatches"] == 0
    assert board.requests == [P.Request.INFO] + [P.Request.CLASSIFY] * 3


def test_a_wrong_score_is_reported(board, digits_run):
    board.wrong_score = (2, 5)
    r = C.classify_run(C.BoardClient(board, timeout_s=1), digits_run["dir"], n=1, say=lambda s: None)
    assert r["mismatches"] == 1
    assert r["details"][0].startswith("image 0, layer readout, time step 2, neuron 5")


def test_another_network_is_refused(digits_bundle, digits_run):
    fake = FakeBoard(digits_bundle, "00" * 32)
    with pytest.raises(ValueError, match="different network: model_id 00000000"):
        C.classify_run(C.BoardClient(fake, timeout_s=1), digits_run["dir"], n=1, say=lambda s: None)


def test_no_reply_times_out(board):
    client = C.BoardClient(board, timeout_s=0.05)
    with pytest.raises(TimeoutError, match="no reply from the board within 0.05 s"):
        client.read_frame()


def test_cli_bad_port_is_one_line(capsys):
    rc = C.main(["info", "--port", "/dev/nonexistent-hdlif-port"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and err.strip().count("\n") == 0
