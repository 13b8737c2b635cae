"""The whole system under Verilator: UART pins -> host link -> accelerator -> host link -> UART
pins, driven by a UART model that speaks host.protocol; bit-exact with golden.executor.run."""

from __future__ import annotations

import os

from sim.system_tb import simulate_system


def test_images_over_the_uart_bit_exact_and_bad_frames_rejected(digits_run, tmp_path):
    n = int(os.environ.get("HDLIF_SYSTEM_N", "4"))
    seed = int(os.environ.get("HDLIF_SEED", "1"))
    r = simulate_system(digits_run["dir"] / "model", digits_run["dir"] / "vectors.npz", tmp_path,
                        n=n, divisor=8, seed=seed)
    print("\n".join(r["log"]))
    assert r["failures"] == [], r["failures"][:5]
    assert len(r["results"]) == n
    assert all(x["class"] == x["golden_class"] for x in r["results"])
    # the bad frames were each answered with their NAK (FRAMING and TIMEOUT when the line had been
    # quiet for QUIET_BITS bit times), and the next image was still served
    for what in ("corrupted frame answered 0x7F 01", "short frame answered 0x7F 03",
                 "unknown request answered 0x7F 02", "pixel out of range answered 0x7F 04",
                 "framing error answered 0x7F 05", "unfinished frame answered 0x7F 06"):
        assert any(line.startswith("ok " + what) for line in r["log"]), what
    # each bad frame is followed by an image (served bit-exactly, so the link recovered); a frame
    # without its sync byte got no reply (the image after it got its RESULT first)
    assert [x["image"] for x in r["results"]] == list(range(n))
