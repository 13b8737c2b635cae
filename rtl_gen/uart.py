"""8N1 UART receiver and transmitter as streams of bytes.

(No ``from __future__ import annotations``: the signatures are class annotations.)
"""


from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


def _check_divisor(owner: str, divisor) -> None:
    if not (isinstance(divisor, int) and not isinstance(divisor, bool) and divisor >= 4):
        raise ValueError(f"{owner} divisor (clocks per bit) must be an integer >= 4, not {divisor!r}")


class UARTRx(wiring.Component):
    """Receives 8N1 frames (start bit, 8 data bits LSB first, stop bit) on ``rx``.

    ``rx`` is asynchronous: it passes two flip-flops first.  A falling edge starts a byte;
    each bit is sampled in its middle, ``divisor`` clocks apart.  A start bit that is high
    again at its middle is a glitch and is ignored.  A good byte is offered on ``data``
    until taken; a byte still untaken when the next one completes is replaced (``overrun``
    strobes).  A stop bit sampled low drops the byte and strobes ``error``.

    Members
    -------
    rx : In(1)                          the line, idle high
    data : Out(stream.Signature(8))     received bytes
    error : Out(1)                      one-clock strobe: framing error (stop bit low)
    overrun : Out(1)                    one-clock strobe: a byte was lost
    """

    rx: In(1, init=1)
    data: Out(stream.Signature(8))
    error: Out(1)
    overrun: Out(1)

    def __init__(self, *, divisor: int):
        _check_divisor("UARTRx", divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(d))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM(name="rx"):
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):          # glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.d.comb += self.overrun.eq(self.data.valid & ~self.data.ready)
                    with m.Else():
                        m.d.comb += self.error.eq(1)
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Sends each byte taken from ``data`` as an 8N1 frame on ``tx``, ``divisor`` clocks per bit.

    Members
    -------
    data : In(stream.Signature(8))      bytes to send; ``ready`` while the line is idle
    tx : Out(1)                         the line, idle high
    """

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, *, divisor: int):
        _check_divisor("UARTTx", divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        shreg = Signal(10, init=0x3FF)       # stop bit, data, start bit; shifted out LSB first
        bits = Signal(range(11))

        m.d.comb += [self.tx.eq(shreg[0]), self.data.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.data.valid):
                m.d.sync += [shreg.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                             bits.eq(10), timer.eq(d - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), bits.eq(bits - 1), timer.eq(d - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
