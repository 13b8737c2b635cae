"""The accelerator on a board: a UART host link around it, and the board's clock.

:class:`UartAccelerator` is the whole system but the clock (UART pins in and out, one
``sync`` domain); it is what the system testbench simulates.  :class:`BoardTop` adds what
only a board has: the clock pin, a PLL making the ``sync`` clock, a reset held until the
PLL locks, the UART pins and an LED, all requested from an ``amaranth-boards`` platform.
The PLL is passed in (:class:`fpga.pll.PLLConfig` from :mod:`fpga.board_flow`): the board
parts of the generator import nothing from ``fpga``.
"""


from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.build import ResourceError
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from host import protocol as P

from .config import AcceleratorConfig
from .host_link import HostLink, HostLinkConfig
from .top import Accelerator
from .uart import UARTRx, UARTTx


def link_config(accel: Accelerator, *, divisor: int, model_id: bytes = b"\0\0\0\0",
                clock_hz: int = 0) -> HostLinkConfig:
    c = accel.config
    return HostLinkConfig(pixel_bits=c.pixel_bits, features=c.features, classes=c.readout.classes,
                          T=c.T, score_bits=c.readout.score_bits, label_bits=accel.label_bits,
                          quiet_clocks=P.QUIET_BITS * divisor, model_id=model_id, clock_hz=clock_hz)


class UartAccelerator(wiring.Component):
    """The accelerator served over a UART (8N1, ``divisor`` clocks per bit) with the
    :mod:`host.protocol` frames.

    Members
    -------
    rx : In(1)       UART line from the host, idle high
    tx : Out(1)      UART line to the host, idle high
    busy : Out(1)    a request is being served (for an LED)
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, config: AcceleratorConfig, *, divisor: int, model_id: bytes = b"\0\0\0\0",
                 clock_hz: int = 0):
        if not isinstance(config, AcceleratorConfig):
            raise TypeError(f"UartAccelerator needs an AcceleratorConfig, not {config!r}")
        if config.pixel_lanes != 1:
            raise ValueError(f"a board build takes one pixel a beat from its host link (the UART's bytes), not "
                             f"pixel_lanes={config.pixel_lanes}: build it with pixel_lanes=1")
        self.accel = Accelerator(config)
        self.uart_rx = UARTRx(divisor=divisor)
        self.uart_tx = UARTTx(divisor=divisor)
        self.link = HostLink(link_config(self.accel, divisor=divisor, model_id=model_id, clock_hz=clock_hz))
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = self.accel
        m.submodules.uart_rx = rx = self.uart_rx
        m.submodules.uart_tx = tx = self.uart_tx
        m.submodules.link = link = self.link
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), link.rx_error.eq(rx.error),
                     self.busy.eq(link.busy)]
        wiring.connect(m, rx.data, link.rx)
        wiring.connect(m, link.tx, tx.data)
        wiring.connect(m, link.pixels, accel.pixels)
        wiring.connect(m, accel.scores, link.scores)
        wiring.connect(m, accel.label, link.label)
        return m


class BoardTop(Elaboratable):
    """:class:`UartAccelerator` on an ``amaranth-boards`` platform, clocked by a PLL.

    ``pll`` makes the ``sync`` clock from the board's clock (``platform.default_clk``): a
    :class:`fpga.pll.PLLConfig`, or anything with its ``fout_mhz`` (the output frequency in
    MHz), ``takes_pin`` (true when the primitive takes the clock pin itself, as iCE40's
    ``SB_PLL40_PAD`` does, rather than the buffered input) and ``instances(clk_in, clk_out,
    locked)`` (the primitives, name -> ``Instance``).  ``baud`` sets the UART divisor from the
    PLL's output frequency.  The ``sync`` domain stays in reset until the PLL has locked.
    """

    def __init__(self, config: AcceleratorConfig, *, pll, baud: int = 115200,
                 model_id: bytes = b"\0\0\0\0"):
        self.pll = pll
        self.clock_hz = int(round(pll.fout_mhz * 1e6))
        self.divisor = round(self.clock_hz / baud)
        if self.divisor < 4:
            raise ValueError(f"baud {baud!r} is too fast for a {pll.fout_mhz:g} MHz clock "
                             f"(needs at least 4 clocks per bit)")
        self.baud = baud
        self.core = UartAccelerator(config, divisor=self.divisor, model_id=model_id, clock_hz=self.clock_hz)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd_sync = ClockDomain("sync")
        locked = Signal()
        clk_pin = platform.request(platform.default_clk, dir="-")
        if self.pll.takes_pin:
            clk_in = clk_pin.io                  # e.g. SB_PLL40_PAD takes the pin itself
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_pin)
            clk_in = clk_buf.i
        for name, inst in self.pll.instances(clk_in, cd_sync.clk, locked).items():
            m.submodules[name] = inst
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        platform.add_clock_constraint(cd_sync.clk, self.clock_hz)

        m.submodules.core = core = self.core
        uart_pins = {sub.name: "-" for sub in platform.lookup("uart", 0).ios}   # rx, tx (, rts, dtr)
        uart = platform.request("uart", 0, dir=uart_pins)
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]
        try:
            led = platform.request("led", 0, dir="-")
        except ResourceError:
            led = None
        if led is not None:
            m.submodules.led_buf = led_buf = io.Buffer("o", led)
            m.d.comb += led_buf.o.eq(core.busy)
        return m
