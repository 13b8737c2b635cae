"""pyverilog reads the emitted Verilog: the interface manifest, and the lint that rejects latches,
undriven nets and unsynthesizable constructs."""

from __future__ import annotations

import json

import pytest

from golden.synthetic import random_bundle
from rtl_gen.emit import emit
from rtl_gen.folding import from_bundle
from rtl_gen.manifest import RTLLintError, check, interface_manifest, lint


@pytest.fixture(scope="module")
def small_accel(tmp_path_factory):
    out = tmp_path_factory.mktemp("manifest")
    b = random_bundle(3, input_shape=(1, 6, 6), T=2, layers=(("conv", 2, 3, 1, 1, 2), ("fc", 8)), classes=3)
    return emit(from_bundle(b, lanes=2), out), b


def test_generated_accelerator_lints_clean_and_has_its_manifest(small_accel):
    d, b = small_accel
    rep = json.loads((__import__("pathlib").Path(d["manifest"]).parent / "lint.json").read_text())
    assert rep["ok"] and not rep["latches"] and not rep["undriven"] and not rep["unsynthesizable"]
    m = json.loads(open(d["manifest"]).read())
    assert m["top"] == "hdlif_accel" and m["clock"] == "clk" and m["reset"] == "rst"
    s = m["streams"]
    assert set(s) == {"pixels", "scores", "label"}
    assert s["pixels"] == {"direction": "input", "valid": "pixels__valid", "ready": "pixels__ready",
                           "payload": "pixels__payload", "width": b.input.bits, "signed": False}
    assert s["scores"]["direction"] == "output" and s["scores"]["signed"]
    assert s["label"]["width"] == 2 and not s["label"]["signed"]       # 3 classes


BAD = """
module child(input a, output y); assign y = a; endmodule
module bad(input clk, input [1:0] s, input d, output reg q, output o, output z);
  reg l; wire u; reg [3:0] mem [0:3]; reg [1:0] k;
  always @* begin if (s[0]) l = d; end
  always @* begin k = 2'd0; case (s) 2'd0: k = 2'd1; 2'd1, 2'd2, 2'd3: k = 2'd2; endcase end
  always @(posedge clk) begin q <= l | u | k[0]; #1 q <= 0; end
  initial begin $display("hi"); end
  initial begin mem[0] = 4'h1; end
  child c(.a(d), .y(o));
endmodule
"""


def test_lint_names_latches_undriven_nets_and_unsynthesizable_code():
    rep = lint(BAD)
    assert rep.latches == ["bad: l (always block at line 5)"]          # k is assigned on every path
    assert rep.undriven == ["bad: u", "bad: z"]                          # read / an output, never driven
    assert any("delay" in x for x in rep.unsynthesizable)
    assert any("$display" in x for x in rep.unsynthesizable)
    assert any("initial block at line 8" in x for x in rep.unsynthesizable)
    assert not any("line 9" in x for x in rep.unsynthesizable)          # constant memory init is fine
    with pytest.raises(RTLLintError, match=r"problem\(s\) in the emitted Verilog, first: latch: bad: l"):
        check(BAD, "bad")


def test_full_case_without_default_is_no_latch():
    src = """module m(input [1:0] s, output reg [1:0] y);
      always @* begin casez (s) 2'h0: y = 2'd1; 2'h1: y = 2'd2; 2'b1?: y = 2'd3; endcase end
    endmodule"""
    assert lint(src).ok
    partial = src.replace("2'b1?", "2'b10")
    assert lint(partial).latches == ["m: y (always block at line 2)"]


def test_full_case_on_a_part_select_is_no_latch():
    """A case on bits of a wider net (the membrane bank of an address: ``casez (a[11:10])``) that
    covers every value is complete (found by ``make fuzz --large``: it was called a latch)."""
    src = """module m(input [11:0] a, input [3:0] p, q, output reg [3:0] y, output reg [3:0] z);
      always @* begin casez (a[11:10]) 2'h0: y = p; 2'h1: y = q; 2'h2: y = p; 2'h3: y = q; endcase end
      always @* begin casez (a[5]) 1'h0: z = p; 1'h1: z = q; endcase end
    endmodule"""
    assert lint(src).ok
    partial = src.replace("2'h3: y = q;", "")
    assert lint(partial).latches == ["m: y (always block at line 2)"]


def test_manifest_of_a_module_and_its_errors():
    m = interface_manifest(BAD, "bad")
    assert [(p["name"], p["direction"], p["width"]) for p in m["ports"]][:3] == \
        [("clk", "input", 1), ("s", "input", 2), ("d", "input", 1)]
    assert m["streams"] == {}
    with pytest.raises(RTLLintError, match="no module 'nosuch'"):
        interface_manifest(BAD, "nosuch")
