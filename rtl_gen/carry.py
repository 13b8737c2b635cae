"""Adders on ECP5 carry chains whose operand logic sits in the chain's own LUTs (``CCU2C``).

An ECP5 carry cell holds two bits.  Each bit's LUT4 computes the propagate ``P = f(A, B, C, D)``;
its generate is the same table read at ``C = D = 0``, ``G = f(A, B, 0, 0)``; then ``S = P ^ cin``
and ``cout = P ? cin : G``.  Yosys maps ``u + v`` onto these cells with ``P = u ^ v`` and leaves
whatever computes ``v`` in LUTs of its own, in front of the chain.  When ``v`` is a function of
at most three signals that is 0 wherever two of them are (``C = D = 0``), the cell can compute
it itself: ``u`` on ``A``, ``P = A ^ v(B, C, D)``, and ``G = A``, the right carry wherever ``P``
is 0 (there ``u == v``).  Two such adders of the event-driven conv engine
(:mod:`rtl_gen.event_conv`), for its ``carry_cells="ecp5"`` option:

* :func:`ternary_lane`: ``acc + w * x`` for a ternary (or binary) weight and a shared unsigned
  code ``x``: ``v = en & (x ^ neg)`` on the code's bits, ``en & neg`` above them, and the
  two's complement ``+1`` of a negative term from one extra half cell (:data:`CARRY_IN`); the
  term's multiplexer (a LUT per bit before the chain) is gone.  :func:`ternary_lanes` puts
  several such lanes on one chain (:data:`LANES_PER_CHAIN`).
* :func:`select_add`: ``u + (sel ? a : b)``: a two-way multiplexer in front of an adder.
* :func:`and_add`: ``(p ? a : 0) + (q ? b : 0)``: the first adders of a shift-add multiplier
  (:class:`rtl_gen.ternary_mac.TernaryMAC`'s ``int8`` lanes), both partial products' ANDs in the
  cells (``u = A & B`` is allowed too: ``G = f(A, B, 0, 0) = A & B``).

A :class:`Half` is one bit of a chain: its table and its four inputs.  :func:`carry_chain`
instantiates them as :data:`WRAPPER` cells (``hdlif_ccu2c``: the ``CCU2C`` primitive under
``SYNTHESIS``, its model otherwise, so Verilator simulates the same tables Yosys places), or,
with ``model=True``, as that model in Amaranth (for Amaranth's simulator, which cannot run an
instance).  The model follows Yosys's ``CCU2C`` simulation model (``ecp5/ccu2c_sim.vh``, with
``INJECT1_0 = INJECT1_1 = "NO"``); ``tests/test_carry.py`` proves the two equal with Yosys.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

from amaranth import Cat, Const, Instance, Module, Mux, Signal

#: the Verilog module the cells are instances of (appended to a design that uses them)
WRAPPER_NAME = "hdlif_ccu2c"

WRAPPER = """
// One ECP5 carry cell (two bits): the CCU2C primitive for synthesis, its model for simulation
// (rtl_gen/carry.py; Yosys's ecp5/ccu2c_sim.vh with INJECT1_0 = INJECT1_1 = "NO").  Each bit's
// LUT inputs are one port, {D, C, B, A}, and the sums another: few signals for Verilator to
// keep (every signal of a cocotb build is public).
module hdlif_ccu2c #(parameter [15:0] INIT0 = 16'h0000, parameter [15:0] INIT1 = 16'h0000) (
    input CIN, input [3:0] I0, input [3:0] I1, output [1:0] S, output COUT);
`ifdef SYNTHESIS
    CCU2C #(.INIT0(INIT0), .INIT1(INIT1), .INJECT1_0("NO"), .INJECT1_1("NO")) cell (
        .CIN(CIN), .A0(I0[0]), .B0(I0[1]), .C0(I0[2]), .D0(I0[3]), .A1(I1[0]), .B1(I1[1]), .C1(I1[2]), .D1(I1[3]),
        .S0(S[0]), .S1(S[1]), .COUT(COUT));
`else
    assign S[0] = INIT0[I0] ^ CIN;
    assign S[1] = INIT1[I1] ^ (INIT0[I0] ? CIN : INIT0[{2'b00, I0[1:0]}]);
    assign COUT = INIT1[I1] ? (INIT0[I0] ? CIN : INIT0[{2'b00, I0[1:0]}]) : INIT1[{2'b00, I1[1:0]}];
`endif
endmodule
"""


def lut_init(fn: Callable[[int, int, int, int], int]) -> int:
    """The 16-bit table of ``fn(A, B, C, D)`` (entry ``D C B A``)."""
    return sum((fn(i & 1, i >> 1 & 1, i >> 2 & 1, i >> 3 & 1) & 1) << i for i in range(16))


@dataclass(frozen=True)
class Half:
    """One bit of a chain: ``P = fn(A, B, C, D)``, ``G = fn(A, B, 0, 0)``; inputs are 1-bit
    values (signals, slices or constants)."""
    fn: Callable[[int, int, int, int], int]
    A: object = 0
    B: object = 0
    C: object = 0
    D: object = 0

    def __post_init__(self):
        for pin in "ABCD":
            v = getattr(self, pin)
            if isinstance(v, int):
                object.__setattr__(self, pin, Const(v, 1))

    @property
    def init(self) -> int:
        return lut_init(self.fn)


def _zero(a, b, c, d):
    return 0


#: the half cell that starts a chain with carry ``A & B`` (its ``D`` is tied high, so ``P = 0``)
def CARRY_IN(a, b) -> Half:
    return Half(lambda A, B, C, D: 0 if D else A & B, a, b, 0, 1)


#: the half cell in front of a chain whose first bit reads its carry: carry 0, ``P = 0``
ZERO_CARRY = Half(_zero)


def carry_chain(m: Module, halves: list, name: str, *, model: bool = False) -> list:
    """Chain ``halves`` (lowest bit first) from carry 0; the sum bits, one per half.

    The chain's first half never reads the carry it receives: a chain whose first half could
    (its propagate not 0 for every input) starts with :data:`ZERO_CARRY` instead (its sum is
    dropped), so :mod:`fpga.carry_ends` can leave the first cell's carry in unconnected and
    nextpnr-ecp5 packs no feed cell in front of the chain (nor one behind it: nothing reads the
    carry out).  Each chain's halves then cost their LUTs and nothing more
    (:func:`chain_luts`)."""
    lead = not _propagate_is_zero(halves[0])
    if lead:
        halves = [ZERO_CARRY, *halves]
    if len(halves) % 2:
        halves = list(halves) + [Half(_zero)]
    sums = []
    carry = Const(0, 1)
    for n in range(0, len(halves), 2):
        h0, h1 = halves[n], halves[n + 1]
        s0, s1, cout = Signal(name=f"{name}_s{n}"), Signal(name=f"{name}_s{n + 1}"), Signal(name=f"{name}_co{n}")
        if model:
            c1 = Signal(name=f"{name}_c{n + 1}")
            p0, g0 = _table(h0, h0.C, h0.D), _table(h0, Const(0, 1), Const(0, 1))
            p1, g1 = _table(h1, h1.C, h1.D), _table(h1, Const(0, 1), Const(0, 1))
            m.d.comb += [c1.eq(Mux(p0, carry, g0)), s0.eq(p0 ^ carry), s1.eq(p1 ^ c1), cout.eq(Mux(p1, c1, g1))]
        else:
            m.submodules[f"{name}_cell{n // 2}"] = Instance(
                WRAPPER_NAME, p_INIT0=Const(h0.init, 16), p_INIT1=Const(h1.init, 16), i_CIN=carry,
                i_I0=Cat(h0.A, h0.B, h0.C, h0.D), i_I1=Cat(h1.A, h1.B, h1.C, h1.D), o_S=Cat(s0, s1), o_COUT=cout)
        sums += [s0, s1]
        carry = cout
    return sums[1:] if lead else sums


def chain_luts(halves: int) -> int:
    """LUTs of one chain of ``halves`` halves as :func:`carry_chain` builds it, placed: two per
    cell, the :data:`ZERO_CARRY` lead where the first half reads its carry (count it in
    ``halves``), no feed cells (:mod:`fpga.carry_ends`)."""
    return 2 * -(-halves // 2)


def _propagate_is_zero(h: Half) -> bool:
    """Whether ``h``'s propagate is 0 whatever its inputs that are not constant (its carry in
    then reaches neither its sum's use nor the next half)."""
    pins = [getattr(h, pin) for pin in "ABCD"]
    choices = [(pin.value,) if isinstance(pin, Const) else (0, 1) for pin in pins]
    return not any(h.fn(*v) & 1 for v in itertools.product(*choices))


def _table(h: Half, c, d):
    return Const(h.init, 16).bit_select(Cat(h.A, h.B, c, d), 1)


#: event lanes per carry chain (:func:`ternary_lanes`).  A lane's carry-in half ignores the carry
#: it receives, so lanes chain freely, but the timing analysis follows the carry through them all
#: (about 0.4 ns a lane).  Chaining them once saved nextpnr-ecp5's feed cells (4 LUTs a chain:
#: two a chain took conv_fmnist's event-driven build from 28,585 to 26,466 packed LUTs, and it no
#: longer routed, router1 thrashing at a few hundred overused wires for 40 minutes); with the
#: chains' ends disconnected (:mod:`fpga.carry_ends`) there are none to save: one
LANES_PER_CHAIN = 1


def _lane_halves(acc, x, en, neg) -> list:
    halves = [CARRY_IN(en, neg)]
    for i in range(len(acc)):
        if i < len(x):
            halves.append(Half(lambda A, B, C, D: A ^ (C & (B ^ D)), acc[i], x[i], en, neg))
        else:
            halves.append(Half(lambda A, B, C, D: A ^ (C & D), acc[i], 0, en, neg))
    return halves


def ternary_lanes(m: Module, lanes: list, name: str, *, model: bool = False,
                  per_chain: int = LANES_PER_CHAIN) -> list:
    """``acc + (en ? (neg ? -x : x) : 0)`` for each ``(acc, x, en, neg)`` of ``lanes`` (see
    :func:`ternary_lane`), ``per_chain`` lanes one after another on one carry chain: each lane
    starts with its own :data:`CARRY_IN` half (``P = 0``: the carry out of the lane before is
    not used), and an odd lane's spare half is the next lane's first.  The sums, in order."""
    out = []
    for g in range(0, len(lanes), per_chain):
        group = lanes[g:g + per_chain]
        halves, spans = [], []
        for acc, x, en, neg in group:
            spans.append((len(halves) + 1, len(halves) + 1 + len(acc)))
            halves += _lane_halves(acc, x, en, neg)
        sums = carry_chain(m, halves, f"{name}{g}" if len(lanes) > 1 else name, model=model)
        out += [Cat(*sums[lo:hi]) for lo, hi in spans]
    return out


def ternary_lane(m: Module, acc, x, en, neg, name: str, *, model: bool = False):
    """``acc + (en ? (neg ? -x : x) : 0)`` over ``len(acc)`` bits (wrapping), ``x`` unsigned and
    narrower than ``acc``; ``en`` / ``neg`` 1-bit (a binary weight: ``en = 1``)."""
    return ternary_lanes(m, [(acc, x, en, neg)], name, model=model)[0]


def select_add(m: Module, u, a, b, sel, name: str, *, model: bool = False):
    """``u + (sel ? a : b)`` over ``len(u)`` bits (wrapping); ``a`` / ``b`` signed, sign-extended."""
    width = len(u)
    halves = []
    for i in range(width):
        ai, bi = a[min(i, len(a) - 1)], b[min(i, len(b) - 1)]
        halves.append(Half(lambda A, B, C, D: A ^ (B if C else D), u[i], ai, sel, bi))
    return Cat(*carry_chain(m, halves, name, model=model)[:width])


def and_add(m: Module, p, a, q, b, width: int, name: str, *, model: bool = False):
    """``(p ? a : 0) + (q ? b : 0)`` over ``width`` bits (wrapping); ``p`` / ``q`` 1-bit, ``a`` /
    ``b`` signed (sign-extended)."""
    halves = []
    for i in range(width):
        halves.append(Half(lambda A, B, C, D: (A & B) ^ (C & D), a[min(i, len(a) - 1)], p, q, b[min(i, len(b) - 1)]))
    return Cat(*carry_chain(m, halves, name, model=model)[:width])
