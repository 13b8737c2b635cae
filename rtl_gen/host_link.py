"""The board's side of the host link: frames in, the accelerator's streams, frames out.

The frame format is :mod:`host.protocol` (and ``docs/host-link.md``); this block implements
it in gateware between two byte streams (a UART's) and an :class:`~rtl_gen.top.Accelerator`'s
``pixels`` / ``scores`` / ``label`` streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Array, Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from host import protocol as P


def crc8_next(crc, byte):
    """CRC-8 (:func:`host.protocol.crc8`) of one more byte, as a combinational expression.

    The CRC of one byte is linear in ``crc ^ byte``: output bit ``j`` is the XOR of the
    input bits that :func:`host.protocol.crc8` maps onto it (found by feeding it each bit).
    """
    x = crc ^ byte
    bits = []
    for j in range(8):
        taps = [x[i] for i in range(8) if (P.crc8(bytes([1 << i])) >> j) & 1]
        term = taps[0]
        for t in taps[1:]:
            term = term ^ t
        bits.append(term)
    return Cat(*bits)


@dataclass(frozen=True, kw_only=True)
class HostLinkConfig:
    """The network's stream shapes as the link carries them, and the link's timing."""
    pixel_bits: int
    features: int
    classes: int
    T: int
    score_bits: int
    label_bits: int
    quiet_clocks: int            # QUIET_BITS bit times, in clocks
    model_id: bytes = b"\0\0\0\0"
    clock_hz: int = 0

    def __post_init__(self):
        for name in ("pixel_bits", "features", "classes", "T", "score_bits", "label_bits", "quiet_clocks"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"HostLinkConfig.{name} must be a positive integer, not {v!r}")
        if self.pixel_bits > 8:
            raise ValueError(f"HostLinkConfig.pixel_bits must be at most 8 (one byte per pixel), "
                             f"not {self.pixel_bits!r}")
        if self.features > P.MAX_LEN:
            raise ValueError(f"HostLinkConfig.features must be at most {P.MAX_LEN}, not {self.features!r}")
        if self.label_bits > 8 or self.classes > 256:
            raise ValueError(f"HostLinkConfig.classes must be at most 256, not {self.classes!r}")
        if self.result_len > P.MAX_LEN:
            raise ValueError(f"HostLinkConfig: a RESULT of {self.result_len} bytes exceeds {P.MAX_LEN}")
        if not (isinstance(self.model_id, bytes) and len(self.model_id) == 4):
            raise ValueError(f"HostLinkConfig.model_id must be 4 bytes, not {self.model_id!r}")
        if not (isinstance(self.clock_hz, int) and 0 <= self.clock_hz < 1 << 32):
            raise ValueError(f"HostLinkConfig.clock_hz must fit in 32 bits, not {self.clock_hz!r}")

    @property
    def score_bytes(self) -> int:
        return P.score_bytes(self.score_bits)

    @property
    def result_len(self) -> int:
        return self.T * self.classes * self.score_bytes + 1

    def info(self) -> P.Info:
        return P.Info(version=P.VERSION, pixel_bits=self.pixel_bits, features=self.features,
                      classes=self.classes, T=self.T, score_bytes=self.score_bytes,
                      model_id=self.model_id, clock_hz=self.clock_hz)


class HostLink(wiring.Component):
    """Serves ``INFO`` and ``CLASSIFY`` requests, one at a time.

    A ``CLASSIFY`` frame's pixels are kept in a frame buffer until its CRC has been checked,
    so a corrupted frame never reaches the accelerator; then they stream out on ``pixels``
    while the ``RESULT`` reply goes out byte by byte as ``scores`` and ``label`` arrive.
    Errors are answered with ``NAK`` (after the line has been quiet for ``quiet_clocks``
    when the frame's header was wrong).  Input that arrives while a request is being served
    is discarded.

    Members
    -------
    rx : In(stream.Signature(8))        bytes from the host (always taken)
    rx_error : In(1)                    strobe: the UART saw a bad stop bit
    tx : Out(stream.Signature(8))       bytes to the host
    pixels : Out(stream.Signature(unsigned(pixel_bits)))
    scores : In(stream.Signature(signed(score_bits)))
    label : In(stream.Signature(unsigned(label_bits)))
    busy : Out(1)                       a request is being served
    """

    def __init__(self, config: HostLinkConfig):
        if not isinstance(config, HostLinkConfig):
            raise TypeError(f"HostLink needs a HostLinkConfig, not {config!r}")
        self.config = c = config
        super().__init__({
            "rx": In(stream.Signature(8)),
            "rx_error": In(1),
            "tx": Out(stream.Signature(8)),
            "pixels": Out(stream.Signature(unsigned(c.pixel_bits))),
            "scores": In(stream.Signature(signed(c.score_bits))),
            "label": In(stream.Signature(unsigned(c.label_bits))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        rx = self.rx

        # ------------------------------------------------------------------ receive side
        m.submodules.frame = buf = memory.Memory(shape=unsigned(c.pixel_bits), depth=c.features, init=[])
        wr = buf.write_port()
        rd = buf.read_port()

        m.d.comb += rx.ready.eq(1)
        quiet = Signal(range(c.quiet_clocks + 1))
        quiet_done = Signal()
        m.d.comb += quiet_done.eq(quiet == c.quiet_clocks)
        with m.If(rx.valid | self.rx_error):
            m.d.sync += quiet.eq(0)
        with m.Elif(~quiet_done):
            m.d.sync += quiet.eq(quiet + 1)

        crc = Signal(8)
        kind = Signal(8)
        length = Signal(16)
        index = Signal(range(c.features + 1))
        bad_pixel = Signal()
        nak = Signal(8)

        # the request handed to the transmit side
        reply_start = Signal()
        reply_kind = Signal(8)            # Reply.*
        reply_done = Signal()

        with m.FSM(name="receive"):
            with m.State("HUNT"):
                with m.If(rx.valid & (rx.payload == P.SYNC_REQUEST)):
                    m.d.sync += [crc.eq(0), bad_pixel.eq(0), index.eq(0)]
                    m.next = "TYPE"
            for state, nxt in (("TYPE", "LEN_LO"), ("LEN_LO", "LEN_HI")):
                with m.State(state):
                    with m.If(rx.valid):
                        m.d.sync += crc.eq(crc8_next(crc, rx.payload))
                        if state == "TYPE":
                            m.d.sync += kind.eq(rx.payload)
                        else:
                            m.d.sync += length[:8].eq(rx.payload)
                        m.next = nxt
                    with m.Elif(self.rx_error):
                        m.d.sync += nak.eq(P.Nak.FRAMING)
                        m.next = "DRAIN"
                    with m.Elif(quiet_done):
                        m.d.sync += nak.eq(P.Nak.TIMEOUT)
                        m.next = "NAK"
            with m.State("LEN_HI"):
                with m.If(rx.valid):
                    m.d.sync += crc.eq(crc8_next(crc, rx.payload))
                    full = Signal(16)
                    m.d.comb += full.eq(Const(0, 16) | length[:8] | (rx.payload << 8))
                    with m.If(kind == P.Request.INFO):
                        with m.If(full == 0):
                            m.next = "CHECK"
                        with m.Else():
                            m.d.sync += nak.eq(P.Nak.LENGTH)
                            m.next = "DRAIN"
                    with m.Elif(kind == P.Request.CLASSIFY):
                        with m.If(full == c.features):
                            m.next = "PAYLOAD"
                        with m.Else():
                            m.d.sync += nak.eq(P.Nak.LENGTH)
                            m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += nak.eq(P.Nak.TYPE)
                        m.next = "DRAIN"
                with m.Elif(self.rx_error):
                    m.d.sync += nak.eq(P.Nak.FRAMING)
                    m.next = "DRAIN"
                with m.Elif(quiet_done):
                    m.d.sync += nak.eq(P.Nak.TIMEOUT)
                    m.next = "NAK"
            with m.State("PAYLOAD"):
                m.d.comb += [wr.addr.eq(index), wr.data.eq(rx.payload)]
                with m.If(rx.valid):
                    m.d.comb += wr.en.eq(1)
                    m.d.sync += [crc.eq(crc8_next(crc, rx.payload)), index.eq(index + 1)]
                    if c.pixel_bits < 8:
                        with m.If(rx.payload[c.pixel_bits:] != 0):
                            m.d.sync += bad_pixel.eq(1)
                    with m.If(index == c.features - 1):
                        m.next = "CHECK"
                with m.Elif(self.rx_error):
                    m.d.sync += nak.eq(P.Nak.FRAMING)
                    m.next = "DRAIN"
                with m.Elif(quiet_done):
                    m.d.sync += nak.eq(P.Nak.TIMEOUT)
                    m.next = "NAK"
            with m.State("CHECK"):
                with m.If(rx.valid):
                    with m.If(rx.payload != crc):
                        m.d.sync += nak.eq(P.Nak.CRC)
                        m.next = "NAK"
                    with m.Elif(bad_pixel):
                        m.d.sync += nak.eq(P.Nak.PIXEL)
                        m.next = "NAK"
                    with m.Elif(kind == P.Request.INFO):
                        m.d.sync += reply_kind.eq(P.Reply.INFO)
                        m.next = "REPLY"
                    with m.Else():
                        m.d.sync += [reply_kind.eq(P.Reply.RESULT), index.eq(0)]
                        m.next = "RUN"
                with m.Elif(self.rx_error):
                    m.d.sync += nak.eq(P.Nak.FRAMING)
                    m.next = "DRAIN"
                with m.Elif(quiet_done):
                    m.d.sync += nak.eq(P.Nak.TIMEOUT)
                    m.next = "NAK"
            with m.State("DRAIN"):
                # a bad header: the rest of the frame is noise; answer once the line is quiet
                with m.If(quiet_done):
                    m.next = "NAK"
            with m.State("NAK"):
                m.d.sync += reply_kind.eq(P.Reply.NAK)
                m.next = "REPLY"
            with m.State("REPLY"):
                m.d.comb += [reply_start.eq(1), self.busy.eq(1)]
                m.next = "WAIT"
            with m.State("RUN"):
                # frame buffer -> accelerator, while the transmit side sends the RESULT
                m.d.comb += [reply_start.eq(1), self.busy.eq(1), rd.addr.eq(0)]
                m.next = "PIXELS"
            with m.State("PIXELS"):
                m.d.comb += [self.busy.eq(1), self.pixels.valid.eq(1), self.pixels.payload.eq(rd.data),
                             rd.addr.eq(index + self.pixels.ready)]
                with m.If(self.pixels.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == c.features - 1):
                        m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(reply_done):
                    m.next = "HUNT"

        # ----------------------------------------------------------------- transmit side
        info = c.info().pack()
        info_rom = Array(Const(b, 8) for b in info)
        sb = c.score_bytes
        n_scores = c.T * c.classes

        out_byte = Signal(8)
        tx_crc = Signal(8)
        tx_kind = Signal(8)
        tx_len = Signal(16)
        count = Signal(range(max(len(info), n_scores, 2) + 1))
        score_reg = Signal(signed(8 * sb))
        score_byte = Signal(range(sb + 1))          # bytes of score_reg left to send

        m.d.comb += self.tx.payload.eq(out_byte)

        def advance(nxt, update_crc=True):
            with m.If(self.tx.ready):
                if update_crc:
                    m.d.sync += tx_crc.eq(crc8_next(tx_crc, out_byte))
                m.next = nxt

        with m.FSM(name="transmit"):
            with m.State("IDLE"):
                with m.If(reply_start):
                    m.d.sync += [tx_kind.eq(reply_kind), tx_crc.eq(0), count.eq(0), score_byte.eq(0)]
                    with m.Switch(reply_kind):
                        with m.Case(P.Reply.INFO):
                            m.d.sync += tx_len.eq(len(info))
                        with m.Case(P.Reply.RESULT):
                            m.d.sync += tx_len.eq(c.result_len)
                        with m.Default():
                            m.d.sync += tx_len.eq(1)
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(P.SYNC_REPLY)]
                advance("TYPE", update_crc=False)
            with m.State("TYPE"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(tx_kind)]
                advance("LEN_LO")
            with m.State("LEN_LO"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(tx_len[:8])]
                advance("LEN_HI")
            with m.State("LEN_HI"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(tx_len[8:])]
                with m.If(self.tx.ready):
                    m.d.sync += tx_crc.eq(crc8_next(tx_crc, out_byte))
                    with m.Switch(tx_kind):
                        with m.Case(P.Reply.INFO):
                            m.next = "INFO"
                        with m.Case(P.Reply.RESULT):
                            m.next = "SCORES"
                        with m.Default():
                            m.next = "NAK"
            with m.State("INFO"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(info_rom[count])]
                with m.If(self.tx.ready):
                    m.d.sync += [tx_crc.eq(crc8_next(tx_crc, out_byte)), count.eq(count + 1)]
                    with m.If(count == len(info) - 1):
                        m.next = "CRC"
            with m.State("NAK"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(nak)]
                advance("CRC")
            with m.State("SCORES"):
                with m.If(score_byte == 0):
                    m.d.comb += self.scores.ready.eq(1)
                    with m.If(self.scores.valid):
                        m.d.sync += [score_reg.eq(self.scores.payload), score_byte.eq(sb)]
                with m.Else():
                    m.d.comb += [self.tx.valid.eq(1), out_byte.eq(score_reg[:8])]
                    with m.If(self.tx.ready):
                        m.d.sync += [tx_crc.eq(crc8_next(tx_crc, out_byte)), score_reg.eq(score_reg >> 8),
                                     score_byte.eq(score_byte - 1)]
                        with m.If(score_byte == 1):
                            m.d.sync += count.eq(count + 1)
                            with m.If(count == n_scores - 1):
                                m.next = "LABEL"
            with m.State("LABEL"):
                with m.If(score_byte == 0):
                    m.d.comb += self.label.ready.eq(1)
                    with m.If(self.label.valid):
                        m.d.sync += [score_reg.eq(self.label.payload), score_byte.eq(1)]
                with m.Else():
                    m.d.comb += [self.tx.valid.eq(1), out_byte.eq(score_reg[:8])]
                    with m.If(self.tx.ready):
                        m.d.sync += [tx_crc.eq(crc8_next(tx_crc, out_byte)), score_byte.eq(0)]
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.tx.valid.eq(1), out_byte.eq(tx_crc)]
                with m.If(self.tx.ready):
                    m.d.comb += reply_done.eq(1)
                    m.next = "IDLE"
        return m
