"""Frozen, validated generator configs, derived from an integer-model bundle.

One config per block drives its Amaranth component; :func:`build` makes them all from a bundle
and an explicit folding (the parallelism of every layer, :class:`Folding`).  Choosing the folding
(:func:`rtl_gen.folding.from_bundle`) and predicting cycles and FPGA resources before any
simulation (:func:`rtl_gen.estimate.cycles`, :func:`rtl_gen.estimate.resources`) are the
planning layer above; the gateware's counter and memory shapes are in :mod:`rtl_gen.hw`.  This
module is pure Python: it imports neither Amaranth nor any other part of the generator.

Data layout shared by every block (``docs/accelerator.md``):

* A feature map lives in a two-slot frame buffer in H, W, C order (channel fastest).  A buffer
  word holds ``simd`` codes of the consuming layer.  For a conv consumer the words of one pixel
  hold its channels (``cf = ceil(C / simd)`` words per pixel); for an fc consumer the elements
  are packed (``word = element // simd``) and the fc weight columns are permuted from the
  bundle's C, H, W order to H, W, C so that no data is ever reordered in hardware.
* An fc layer is a 1 x 1 convolution over a 1 x 1 image with ``C = in_features``.
* A layer sweeps its output positions (with 2 x 2 pooling: ``Y, X, dy, dx``, so that the four
  neurons of a pooling window are adjacent); per position it runs ``O / pe`` output folds of
  ``taps`` beats each, where a beat feeds ``pe x simd`` MAC lanes (one input word, one
  ``pe x simd`` weight block).  Completed sums leave ``nl`` at a time (``nl`` neuron lanes).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field

import numpy as np

from golden.bounds import signed_bits
from golden.bundle import NEURON_KINDS, RESET_KINDS, Bundle, HDLIFConvLayer, compute_widths

#: bits of one weight code in the MAC lanes and the weight ROM
WEIGHT_BITS = {"ternary": 2, "binary": 1, "int8": 8}


def weight_code(kind: str, w: int) -> int:
    """A weight's code in a ROM word (:data:`WEIGHT_BITS` bits): ternary bit 0 = non-zero, bit 1 =
    negative; binary 1 = ``-1``; int8 two's complement."""
    if kind == "ternary":
        return int(w != 0) | (int(w < 0) << 1)
    if kind == "binary":
        return int(w < 0)
    return w & 0xFF


def _pos_int(owner: str, name: str, value) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{owner}.{name} must be a positive integer, not {value!r}")


def lane_entry_bits(code_bits: int, words: int, lane_lists: bool) -> int:
    """Bits of one lane of an input buffer word, written by the producer's layout
    (:class:`OutputLayout`) and read by the consumer (:class:`SynapseConfig`): the code, and
    where each lane lists its own non-zero codes, the index of the word it came from (lane ``j``
    of word ``m`` holds element ``m * simd + j``)."""
    return code_bits + (bits_for(words) if lane_lists else 0)


#: carry-cell families whose adders the generator can hand-place (:mod:`rtl_gen.carry`; ``None``:
#: plain ``+``, any device)
CARRY_CELLS = (None, "ecp5")

#: where an 8-bit weight's lane multiplies (:class:`rtl_gen.ternary_mac.TernaryMAC`): ``"logic"``, a
#: shift-add tree in LUTs and carry chains beside the lane (any device), or ``"dsp"``, a multiplier
#: block per lane (an 18 x 18 MULT18X18D on the ECP5) with registers on both sides
INT8_LANES = ("logic", "dsp")


def _rom_logic_depth(owner: str, value) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f"{owner}.rom_logic_depth must be a whole number >= 0 (ROMs of at most that many words "
                         f"become logic; 0: every ROM block RAM), not {value!r}")


def _pow2(owner: str, name: str, value) -> None:
    _pos_int(owner, name, value)
    if value & (value - 1):
        raise ValueError(f"{owner}.{name} must be a power of two, not {value!r}")


def log2_exact(n: int) -> int:
    return n.bit_length() - 1


def bits_for(n: int) -> int:
    """Unsigned bits of a counter that holds ``0 .. n - 1`` (at least 1)."""
    return max(1, (n - 1).bit_length())


# ---------------------------------------------------------------------------------------------
# Memories

#: a ROM this shallow becomes LUT logic (a few LUTs per bit) rather than a block RAM
ROM_LOGIC_DEPTH = 64
#: a RAM this small becomes LUT RAM (TRELLIS_DPR16X4) rather than a block RAM
RAM_LUT_BITS = 1024


def memory_attrs(depth: int, width: int, *, rom: bool, logic_depth: int | None = None) -> dict:
    """The Yosys mapping of a memory (``rom_style`` / ``ram_style``), one policy for the RTL and
    :func:`rtl_gen.estimate.resources`: ROMs of at most ``logic_depth`` words (default
    :data:`ROM_LOGIC_DEPTH`; a design's ``rom_logic_depth``) are logic, tiny RAMs LUT RAM, the
    rest block RAM (DP16KD)."""
    if rom:
        limit = ROM_LOGIC_DEPTH if logic_depth is None else logic_depth
        return {"rom_style": "logic"} if depth <= limit else {"rom_style": "block"}
    return {"ram_style": "distributed"} if depth * width <= RAM_LUT_BITS else {"ram_style": "block"}


def block_rom_stages(depth: int, width: int) -> int:
    """Registers after the read of a weight ROM in block RAM: one for a single block RAM, two
    for several: the first by the block RAMs (their clock-to-out is slow, and a ROM stacked in
    depth has its multiplexer there), the second by the lanes they feed, which a word as wide as
    several block RAMs spreads over the device (a clock's route apart).  A single block RAM
    keeps one register: a small network's ROM sits by its few lanes, and the iCE40 UP5K digits
    build has no logic cells to spare for the copy."""
    return 2 if bram_layout(depth, width)[0] > 1 else 1


#: DP16KD aspect ratios (depth, width)
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram_shape(depth: int, width: int) -> tuple[int, int]:
    """The DP16KD aspect ``(depth, width)`` of :func:`bram_layout`'s choice for whole-word writes."""
    return min(BRAM_SHAPES, key=lambda s: (math.ceil(width / s[1]) * math.ceil(depth / s[0]), math.ceil(depth / s[0])))


#: bits of one column of :func:`column_layout` (a DP16KD of 4096 x 4)
COLUMN_BITS = 4


def column_layout(depth: int, width: int) -> bool:
    """Whether a whole-word block memory is laid out as ``COLUMN_BITS``-bit columns, a memory each
    (Yosys maps each onto one DP16KD of 4096 x 4), instead of the fewest blocks: where those are
    stacked in rows (a multiplexer after the blocks' outputs, a LUT per bit per row), the memory is
    at most 4096 words deep, and the columns take at most a tenth more blocks (conv_fmnist's stem
    cache, 3,136 x 120 bits: 30 blocks for 28, no 120-bit multiplexer)."""
    if memory_attrs(depth, width, rom=False).get("ram_style") != "block" or depth > 4096:
        return False
    brams, rows = bram_layout(depth, width)
    return rows > 1 and math.ceil(width / COLUMN_BITS) * 10 <= brams * 11


def bram_layout(depth: int, width: int, *, lane_bits: int | None = None) -> tuple[int, int]:
    """``(brams, rows)`` of a block memory: the fewest DP16KD, and how many of them are stacked
    in depth (more than one row puts a multiplexer after the block RAMs' slow clock-to-out).

    ``lane_bits``: the word is ``width / lane_bits`` lanes, each written with its own enable.
    Yosys maps an enable onto the DP16KD's 9-bit bytes, so each lane takes whole bytes of a
    9/18/36-bit wide block (a 4-bit lane a byte: twice the blocks of whole-word writes), or a
    column of its own in a narrower one."""
    def cols(w):
        if lane_bits is None:
            return math.ceil(width / w)
        lanes = width // lane_bits
        if w < 9:
            return lanes * math.ceil(lane_bits / w)
        return math.ceil(lanes * math.ceil(lane_bits / 9) * 9 / w)
    return min((cols(w) * math.ceil(depth / d), math.ceil(depth / d)) for d, w in BRAM_SHAPES)


def memory_cost(depth: int, width: int, *, rom: bool = False, lane_bits: int | None = None,
                logic_depth: int | None = None) -> dict:
    """ECP5 cost of a memory under :func:`memory_attrs` (the same policy as the RTL);
    ``lane_bits``: written lane by lane (see :func:`bram_layout`)."""
    style = memory_attrs(depth, width, rom=rom, logic_depth=logic_depth)
    kind = style.get("rom_style") or style.get("ram_style")
    if kind == "logic":
        # each output bit is a function of log2(depth) address bits: ~1 LUT4 per 16 words
        return {"luts": int(math.ceil(width * math.ceil(depth / 16) * 1.1)), "brams": 0}
    if kind == "distributed":
        # TRELLIS_DPR16X4: 16 x 4 bits, about 3 logic cells with its write logic
        return {"luts": int(math.ceil(depth / 16) * math.ceil(width / 4) * 3), "brams": 0}
    return {"luts": 0, "brams": bram_layout(depth, width, lane_bits=lane_bits)[0]}


COST_KEYS = ("luts", "ffs", "brams", "dsps")


def dsp_blocks(a_bits: int, b_bits: int) -> int:
    """MULT18X18D blocks of a signed ``a_bits x b_bits`` product as Yosys's ``mul2dsp`` splits
    it for the ECP5: an operand over 18 bits into 17-bit unsigned low parts and a top part of
    at most 18, a block per pair of parts; a top part of 2 bits or fewer, like a 1-bit operand,
    stays in logic (fitted to the ResNets' requantizers and leak products: 19 bits take one
    block, 20 to 35 two)."""
    if min(a_bits, b_bits) < 2:
        return 0

    def parts(w):
        n = 1
        while w > 18:
            w, n = w - 17, n + 1
        return n - 1 if n > 1 and w <= 2 else n
    return parts(a_bits) * parts(b_bits)


def add_cost(*parts: dict) -> dict:
    """The sum of resource figures (``luts``, ``ffs``, ``brams``, ``dsps``)."""
    return {k: sum(p.get(k, 0) for p in parts) for k in COST_KEYS}


# ---------------------------------------------------------------------------------------------
# Folding

_FOLD_RE = re.compile(r"^(\d+)x(\d+)(?:/(\d+))?(e?)$")


@dataclass(frozen=True, kw_only=True)
class Folding:
    """Parallelism of one layer (FINN-style folding).

    ``pe`` output channels and ``simd`` input lanes per clock (``pe x simd`` MAC lanes);
    ``nl`` neuron lanes (requantizers + HD-LIF cores) that the finished sums leave through.
    Written ``PExSIMD`` or ``PExSIMD/NL``, e.g. ``8x16/2``; a trailing ``e`` (``32x16/8e``)
    makes the layer event-driven (:mod:`rtl_gen.event_conv`: ``k x k x pe`` lanes take one
    non-zero input code per clock; ``simd`` then covers the input channels, a pixel per word).
    """
    pe: int = 1
    simd: int = 1
    nl: int = 1
    event: bool = False

    def __post_init__(self):
        _pos_int("Folding", "pe", self.pe)
        _pos_int("Folding", "simd", self.simd)      # a power of two but for a stem's lane lists (SynapseConfig)
        _pow2("Folding", "nl", self.nl)

    @property
    def lanes(self) -> int:
        return self.pe * self.simd

    def __str__(self) -> str:
        return f"{self.pe}x{self.simd}" + (f"/{self.nl}" if self.nl > 1 else "") + ("e" if self.event else "")

    @classmethod
    def parse(cls, text: str) -> "Folding":
        m = _FOLD_RE.match(str(text).strip())
        if not m:
            raise ValueError(f"a folding is written PExSIMD or PExSIMD/NL, with a trailing e for an event-driven "
                             f"layer (e.g. 8x16/2, 32x16/8e), not {text!r}")
        return cls(pe=int(m[1]), simd=int(m[2]), nl=int(m[3] or 1), event=bool(m[4]))


# ---------------------------------------------------------------------------------------------
# Synapse (MAC engine)

@dataclass(frozen=True, kw_only=True, eq=False)
class ScheduleEntry:
    """One beat of a position's sweep: a ``pe x simd`` weight block and the input word it meets."""
    fold: int           # output fold nf (channels nf*pe .. nf*pe + pe - 1)
    di: int             # input row offset i - padding
    dj: int             # input column offset j - padding
    cf: int             # channel word within the pixel
    offset: int         # word address offset: (di * W + dj) * cf_count + cf
    first: bool         # first beat of the fold
    last: bool          # last beat of the fold
    block: np.ndarray   # int [pe, simd] weights


@dataclass(frozen=True, kw_only=True)
class EventEntry:
    """One pixel of an event-driven layer's item (:meth:`SynapseConfig.event_entries`).

    ``rows[r]`` is ``(ring row, in range)`` of output row ``iy + p - r`` (flush row ``r``, the
    kernel row ``ky = r``); ``cols[cb]`` is ``(x // k, in range)`` of the output column ``x``
    with ``x % k == cb`` that the pixel touches.  The pixel finishes output ``(iy - d, ix - d)``
    (flush row ``k - 1``, bank ``fin_cb``), which goes to the neurons when ``emit``.
    ``first[r][cb]``: this pixel is the first (in the item's order) to touch the output of flush
    row ``r``, bank ``cb``, so its sum overwrites that bank entry instead of adding to it.
    """
    iy: int
    ix: int
    real: bool
    addr: int
    s: int
    rows: tuple
    cols: tuple
    fin_cb: int
    emit: bool
    last_emit: bool
    first: tuple = ()


@dataclass(frozen=True, kw_only=True, eq=False)
class SynapseConfig:
    """A conv (or fc: a 1 x 1 conv over a 1 x 1 image) MAC engine with its weights and folding.

    ``weight`` is ``[O, C, k, k]`` with ``C`` in the element order of the input buffer.
    """
    name: str
    channels: int               # C (fc: in_features)
    height: int = 1             # H
    width: int = 1              # W
    out_channels: int           # O
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    pool: int = 1
    weight: np.ndarray
    weight_kind: str = "ternary"
    in_bits: int                # unsigned input code (pixel or spike code)
    acc_bits: int
    fold: Folding
    T: int = 1
    trailing: bool = False      # may read a slot while it is being filled (in order)
    skip_zero_weights: bool = False
    skip_zero_inputs: bool = False   # fc only: walk the slot's list of non-zero words
    lane_lists: bool = False    # with skip_zero_inputs: each simd lane walks its own list of non-zero codes
    activity: float = 1.0       # expected fraction of input words (event: codes) that are non-zero (estimates)
    event: bool = False         # conv only: event-driven (scatter each non-zero code), see below
    rom_logic_depth: int = ROM_LOGIC_DEPTH      # its ROMs of at most this many words are logic (memory_attrs)
    carry_cells: str | None = None              # event / int8: "ecp5" hand-places adders' logic (rtl_gen.carry)
    int8_lanes: str = "logic"                   # int8 weights: "dsp" multiplies in a multiplier block per lane

    def __post_init__(self):
        owner = f"SynapseConfig({self.name})"
        for name in ("channels", "height", "width", "out_channels", "kernel", "stride", "in_bits",
                     "acc_bits", "T"):
            _pos_int(owner, name, getattr(self, name))
        if not isinstance(self.fold, Folding):
            raise ValueError(f"{owner}.fold must be a Folding, not {self.fold!r}")
        if self.weight_kind not in WEIGHT_BITS:
            raise ValueError(f"{owner}.weight_kind must be one of {tuple(WEIGHT_BITS)}, not {self.weight_kind!r}")
        if self.pool not in (1, 2):
            raise ValueError(f"{owner}.pool must be 1 or 2, not {self.pool!r}")
        if not (isinstance(self.padding, int) and 0 <= self.padding < self.kernel):
            raise ValueError(f"{owner}.padding must be an integer in 0..kernel-1, not {self.padding!r}")
        want = (self.out_channels, self.channels, self.kernel, self.kernel)
        if tuple(self.weight.shape) != want:
            raise ValueError(f"{owner}.weight must have shape {list(want)}, not {list(self.weight.shape)}")
        if self.out_channels % self.fold.pe:
            raise ValueError(f"{owner}: pe={self.fold.pe} must divide the {self.out_channels} output channels")
        if self.fold.pe % self.fold.nl or self.out_channels % self.fold.nl:
            raise ValueError(f"{owner}: nl={self.fold.nl} must divide pe={self.fold.pe} "
                             f"and the {self.out_channels} output channels")
        if self.fold.simd & (self.fold.simd - 1) and not self.lane_lists:
            raise ValueError(f"{owner}: simd={self.fold.simd} must be a power of two (any width only for an fc "
                             f"stem whose lanes list their own non-zero pixels, skip_zero_pixels='lanes')")
        if self.fold.simd > 1 << (self.channels - 1).bit_length():
            raise ValueError(f"{owner}: simd={self.fold.simd} is wider than the {self.channels} "
                             f"input channels need")
        if self.conv_height < 1 or self.conv_width < 1 or self.positions < 1:
            raise ValueError(f"{owner}: the output is empty")
        if self.skip_zero_inputs and not self.is_fc:
            raise ValueError(f"{owner}: zero inputs can be skipped only by an fc layer, not a conv layer")
        if self.skip_zero_inputs and self.skip_zero_weights:
            raise ValueError(f"{owner}: skip zero inputs or zero weight blocks, not both")
        _rom_logic_depth(owner, self.rom_logic_depth)
        if self.lane_lists and not (self.skip_zero_inputs and not self.trailing):
            raise ValueError(f"{owner}: lists of non-zero codes per lane are a way of skipping zero inputs "
                             f"(skip_zero_inputs, not trailing)")
        if not (0.0 <= self.activity <= 1.0):
            raise ValueError(f"{owner}.activity must lie in [0, 1], not {self.activity!r}")
        if self.carry_cells not in CARRY_CELLS:
            raise ValueError(f"{owner}.carry_cells must be one of {CARRY_CELLS}, not {self.carry_cells!r}")
        if self.int8_lanes not in INT8_LANES:
            raise ValueError(f"{owner}.int8_lanes must be one of {INT8_LANES}, not {self.int8_lanes!r}")
        if self.int8_lanes != "logic" and self.weight_kind != "int8":
            raise ValueError(f"{owner}: int8_lanes={self.int8_lanes!r} places 8-bit multipliers; this layer's "
                             f"weights are {self.weight_kind}")
        if self.carry_cells and not (self.event or self.int8_logic):
            raise ValueError(f"{owner}: carry_cells={self.carry_cells!r} places the adders of an event-driven "
                             f"layer or an 8-bit multiplier in logic; this layer has neither")
        if self.event:
            if self.is_fc or self.stride != 1:
                raise ValueError(f"{owner}: an event-driven layer is a conv layer of stride 1, not "
                                 f"{'an fc layer' if self.is_fc else f'stride {self.stride}'}")
            if self.cf != 1:
                raise ValueError(f"{owner}: an event-driven layer reads a whole pixel per word: simd={self.fold.simd} "
                                 f"must cover the {self.channels} input channels "
                                 f"(simd={1 << (self.channels - 1).bit_length()})")
            if self.skip_zero_weights or self.skip_zero_inputs or self.trailing:
                raise ValueError(f"{owner}: an event-driven layer skips zero codes itself; it cannot also skip "
                                 f"zero weight blocks, walk a list of words or trail its input")

    @property
    def int8_logic(self) -> bool:
        """8-bit weights multiplied in logic (shift-add trees), not in multiplier blocks."""
        return self.weight_kind == "int8" and self.int8_lanes == "logic"

    @property
    def int8_dsp(self) -> bool:
        """8-bit weights multiplied in a multiplier block per lane."""
        return self.weight_kind == "int8" and self.int8_lanes == "dsp"

    # geometry -----------------------------------------------------------------------------
    @property
    def is_fc(self) -> bool:
        return self.height == 1 and self.width == 1 and self.kernel == 1

    @property
    def conv_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def conv_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_height(self) -> int:
        return self.conv_height // self.pool

    @property
    def out_width(self) -> int:
        return self.conv_width // self.pool

    @property
    def positions(self) -> int:
        """Output positions swept per item (with pooling, the dropped odd row / column are skipped)."""
        return self.out_height * self.out_width * self.pool * self.pool

    def position_list(self) -> list[tuple[int, int]]:
        """``(y, x)`` of every swept position, in sweep order."""
        if self.pool == 2:
            return [(2 * Y + dy, 2 * X + dx) for Y in range(self.out_height) for X in range(self.out_width)
                    for dy in (0, 1) for dx in (0, 1)]
        return [(y, x) for y in range(self.conv_height) for x in range(self.conv_width)]

    @property
    def cf(self) -> int:
        """Input words per pixel."""
        return -(-self.channels // self.fold.simd)

    @property
    def words(self) -> int:
        """Words in one slot of the input buffer."""
        return self.height * self.width * self.cf

    @property
    def out_folds(self) -> int:
        return self.out_channels // self.fold.pe

    @property
    def weight_bits(self) -> int:
        return WEIGHT_BITS[self.weight_kind]

    @property
    def registered_terms(self) -> bool:
        """Whether the MAC lanes register their terms (:class:`rtl_gen.ternary_mac.TernaryMAC`):
        all but a stem with lane lists, whose lanes' terms feed the adder tree directly (a
        flip-flop per lane bit saved, where the LFE5U-25F's fc_784_128_10 has none to spare)."""
        return not self.lane_lists

    @property
    def weight_rom_shape(self) -> tuple[int, int]:
        """``(depth, width)`` of the weight ROM: a word of ``pe x simd`` weights per beat of the
        schedule; with :attr:`lane_lists`, one ROM per lane, a word of ``pe`` weights per output
        fold and input word (lane ``j``'s word ``f * cf + m``: input ``m * simd + j``)."""
        if self.lane_lists:
            return self.out_folds * self.cf, self.fold.pe * self.weight_bits
        return len(self.schedule()), self.fold.pe * self.fold.simd * self.weight_bits

    @property
    def entry_bits(self) -> int:
        """Bits of a lane of the input word (:func:`lane_entry_bits`)."""
        return lane_entry_bits(self.in_bits, self.words, self.lane_lists)

    @property
    def weight_stages(self) -> int:
        """Registers after the weight ROM: one in logic, else :func:`block_rom_stages`."""
        depth, width = self.weight_rom_shape
        if memory_attrs(depth, width, rom=True, logic_depth=self.rom_logic_depth).get("rom_style") != "block":
            return 1
        return block_rom_stages(depth, width)

    @property
    def frame_stages(self) -> int:
        """Registers after the input frame's read: two where the frame (two slots of :attr:`words`)
        is block RAM and each code of the word feeds ``pe > 1`` output channels' lanes, so the
        first sits by the block RAM (its clock-to-out is slow) and the second by the lanes, a
        clock's route apart (with ``pe = 1`` each bit of the register feeds one lane and the
        placer keeps it on the way; a second register there would only cost logic cells, which
        the iCE40 UP5K digits build cannot spare)."""
        if self.fold.pe == 1 or self.lane_lists:    # lane lists: the word feeds the lane ROMs' addresses
            return 1
        depth, width = 2 * self.words, self.fold.simd * self.in_bits
        return 2 if memory_attrs(depth, width, rom=False).get("ram_style") == "block" else 1

    @property
    def read_stages(self) -> int:
        """Clocks from the memories' read data to the MAC lanes: the frame word registered
        :attr:`frame_stages` times or the weights :attr:`weight_stages` times, whichever is more
        (the weight ROM's address waits the difference, a few flip-flops).  With
        :attr:`lane_lists` the weights' addresses come from the frame word (its indices): the
        frame's register, the lane ROMs' address register, their read, the weights' registers."""
        if self.lane_lists:
            return self.frame_stages + 2 + self.weight_stages
        return max(self.weight_stages, self.frame_stages)

    @property
    def groups_per_fold(self) -> int:
        """Clocks the serializer needs to hand one fold's ``pe`` sums to ``nl`` neuron lanes."""
        return self.fold.pe // self.fold.nl

    @property
    def groups_per_item(self) -> int:
        return self.positions * self.out_channels // self.fold.nl

    # schedule -----------------------------------------------------------------------------
    def schedule(self) -> list[ScheduleEntry]:
        """The beats of one position, in order; all-zero weight blocks dropped when skipping."""
        cached = self.__dict__.get("_schedule")
        if cached is None:
            cached = self._make_schedule()
            object.__setattr__(self, "_schedule", cached)
        return cached

    def _make_schedule(self) -> list[ScheduleEntry]:
        P, S, k, C, W = self.fold.pe, self.fold.simd, self.kernel, self.channels, self.width
        cfn = self.cf
        wpad = np.zeros((self.out_channels, cfn * S, k, k), np.int64)
        wpad[:, :C] = self.weight
        out = []
        for nf in range(self.out_folds):
            taps = []
            for i in range(k):
                for j in range(k):
                    for c in range(cfn):
                        block = wpad[nf * P:(nf + 1) * P, c * S:(c + 1) * S, i, j]
                        taps.append((i, j, c, block))
            if self.skip_zero_weights:
                kept = [tp for tp in taps if tp[3].any()] or taps[:1]
            else:
                kept = taps
            for n, (i, j, c, block) in enumerate(kept):
                di, dj = i - self.padding, j - self.padding
                out.append(ScheduleEntry(fold=nf, di=di, dj=dj, cf=c, offset=(di * W + dj) * cfn + c,
                                         first=n == 0, last=n == len(kept) - 1, block=block))
        return out

    def fold_lengths(self) -> list[int]:
        """Beats of every output fold (with zero-input skipping: the expected count, at least 1)."""
        if self.skip_zero_inputs:
            return [max(1, int(round(self.activity * self.cf)))] * self.out_folds
        if not self.skip_zero_weights:
            return [self.kernel * self.kernel * self.cf] * self.out_folds
        lengths = [0] * self.out_folds
        for e in self.schedule():
            lengths[e.fold] += 1
        return lengths

    @property
    def beats_per_position(self) -> int:
        return sum(self.fold_lengths())

    @property
    def rom_words(self) -> int:
        """Words of the weight ROM: a block per beat of the schedule, every input word's for a
        layer that skips zero inputs (any of them may be visited), the kept blocks' with zero
        weights skipped."""
        if self.skip_zero_weights:
            return self.beats_per_position
        return self.kernel * self.kernel * self.cf * self.out_folds

    @property
    def beats_per_item(self) -> int:
        return self.positions * self.beats_per_position

    def weight_word(self, entry: ScheduleEntry) -> int:
        """The ROM word of a block: lane ``(p, s)`` at bits ``(p*simd + s) * weight_bits``."""
        wb = self.weight_bits
        word = 0
        for p in range(self.fold.pe):
            for s in range(self.fold.simd):
                code = weight_code(self.weight_kind, int(entry.block[p, s]))
                word |= code << ((p * self.fold.simd + s) * wb)
        return word

    # event-driven schedule ------------------------------------------------------------------
    # An event-driven conv layer (``event``, :class:`rtl_gen.event_conv.EventConvSynapse`)
    # scatters every non-zero input code into the ``k x k`` output positions it touches: the
    # pixels are visited in the order that finishes the output positions in sweep order, the
    # partial sums of the positions not yet finished live in ``k`` memory banks (output column
    # mod ``k``) of ``ring`` output rows: the first pixel to reach a position writes its entry,
    # the others add to it, and the last hands it to the neurons.

    @property
    def event_d(self) -> int:
        """Output position ``(y, x)`` is finished by pixel ``(y + d, x + d)``, ``d = k - 1 - p``."""
        return self.kernel - 1 - self.padding

    @property
    def event_ring(self) -> int:
        """Output rows kept in the partial-sum banks: ``k + 1`` rows are never live at once."""
        return self.kernel + 1

    @property
    def event_cols(self) -> int:
        """Entries of one bank per ring row and fold: the output columns ``x`` with ``x % k`` fixed."""
        return -(-self.conv_width // self.kernel)

    @property
    def event_depth(self) -> int:
        return self.event_ring * self.event_cols * self.out_folds

    @property
    def event_lanes(self) -> int:
        """Accumulator lanes: ``k x k`` kernel taps x ``pe`` output channels, one code per clock."""
        return self.kernel * self.kernel * self.fold.pe

    @property
    def event_lane_bits(self) -> int:
        """Bits of an accumulator lane: the sum over one pixel's channels of ``w * x``, for the
        largest positive and most negative weights of any lane (at most ``acc_bits``)."""
        w = np.asarray(self.weight, np.int64)
        xmax = (1 << self.in_bits) - 1
        hi = int((np.clip(w, 0, None).sum(axis=1) * xmax).max())
        lo = int((np.clip(w, None, 0).sum(axis=1) * xmax).min())
        return min(signed_bits(lo, hi), self.acc_bits)

    def event_entries(self) -> list["EventEntry"]:
        """The pixels one item visits, in order (cached)."""
        cached = self.__dict__.get("_event_entries")
        if cached is None:
            cached = self._make_event_entries()
            object.__setattr__(self, "_event_entries", cached)
        return cached

    def _make_event_entries(self) -> list["EventEntry"]:
        k, p, d = self.kernel, self.padding, self.event_d
        H, W, Ho, Wo = self.height, self.width, self.conv_height, self.conv_width
        Hu, Wu = (Ho, Wo) if self.pool == 1 else (2 * (Ho // 2), 2 * (Wo // 2))
        grid = [(iy, ix) for iy in range(H + p) for ix in range(W + p)]
        if self.pool == 2:
            # block order: the pixels that finish the four positions of a pooling window together
            grid.sort(key=lambda q: ((q[0] - d) // 2, (q[1] - d) // 2, (q[0] - d) % 2, (q[1] - d) % 2))
        M = self.event_ring
        out = []
        touched = set()                               # the output positions some pixel reached
        for iy, ix in grid:
            s = (ix + p) % k
            rows = tuple(((iy + p - r) % M, 0 <= iy + p - r < Ho) for r in range(k))
            cols, oxs = [], []
            for cb in range(k):
                ox = ix + p - (s - cb) % k
                oxs.append(ox)
                cols.append((ox // k, True) if 0 <= ox < Wo else (0, False))
            first = []
            for r in range(k):
                row = []
                for cb in range(k):
                    pos = (iy + p - r, oxs[cb])
                    row.append(rows[r][1] and cols[cb][1] and pos not in touched)
                    if row[-1]:
                        touched.add(pos)
                first.append(tuple(row))
            fy, fx = iy - d, ix - d
            real = iy < H and ix < W
            out.append(EventEntry(iy=iy, ix=ix, real=real, addr=iy * W + ix if real else 0, s=s, rows=rows,
                                  cols=tuple(cols), fin_cb=(ix - d) % k, emit=0 <= fy < Hu and 0 <= fx < Wu,
                                  last_emit=False, first=tuple(first)))
        last = max(n for n, e in enumerate(out) if e.emit)
        out[last] = EventEntry(**{**out[last].__dict__, "last_emit": True})
        return out

    def event_weight_word(self, f: int, c: int, s: int) -> int:
        """The weight ROM word at ``(f * C + c) * k + s``: lane ``(ky, cb, o)`` at
        ``((ky * k + cb) * pe + o) * weight_bits`` holds ``w[f*pe + o, c, ky, (s - cb) % k]``."""
        k, P, wb = self.kernel, self.fold.pe, self.weight_bits
        word = 0
        for ky in range(k):
            for cb in range(k):
                kx = (s - cb) % k
                for o in range(P):
                    code = weight_code(self.weight_kind, int(self.weight[f * P + o, c, ky, kx]))
                    word |= code << (((ky * k + cb) * P + o) * wb)
        return word

    @property
    def mac_sum_bits(self) -> int:
        extra = 1 if self.weight_kind != "int8" else 8
        return self.in_bits + extra + (self.fold.simd - 1).bit_length()


# ---------------------------------------------------------------------------------------------
# Requantizer and neurons

def _as_table(a, T: int, O: int) -> np.ndarray:
    """A ``[O]`` / ``[T]`` / ``[T, O]`` parameter as a ``[T, O]`` int64 table."""
    a = np.asarray(a, np.int64)
    if a.ndim == 2:
        return a
    if a.shape == (O,):
        return np.broadcast_to(a, (T, O)).copy()
    return np.broadcast_to(a[:, None], (T, O)).copy()


@dataclass(frozen=True, kw_only=True, eq=False)
class RequantConfig:
    """``value = (acc * mult[t, o] + bias[t, o]) >> shift`` for ``nl`` channels per clock.

    ``mult`` / ``bias`` are ``[O]`` or ``[T, O]`` (per step, Mem-BN).
    """
    channels: int
    lanes: int
    T: int
    mult: np.ndarray
    bias: np.ndarray
    shift: int
    acc_bits: int
    product_bits: int
    out_bits: int
    rom_logic_depth: int = ROM_LOGIC_DEPTH      # its parameter ROM is logic up to this many words

    def __post_init__(self):
        for name in ("channels", "lanes", "T", "acc_bits", "product_bits", "out_bits"):
            _pos_int("RequantConfig", name, getattr(self, name))
        _rom_logic_depth("RequantConfig", self.rom_logic_depth)
        if not (isinstance(self.shift, int) and self.shift >= 0):
            raise ValueError(f"RequantConfig.shift must be a non-negative integer, not {self.shift!r}")
        for name in ("mult", "bias"):
            a = np.asarray(getattr(self, name))
            if a.shape not in ((self.channels,), (self.T, self.channels)):
                raise ValueError(f"RequantConfig.{name} must have shape [{self.channels}] or "
                                 f"[{self.T}, {self.channels}], not {list(a.shape)}")
        if self.channels % self.lanes:
            raise ValueError(f"RequantConfig: lanes={self.lanes} must divide the {self.channels} channels")

    @property
    def per_step(self) -> bool:
        return np.asarray(self.mult).ndim == 2 or np.asarray(self.bias).ndim == 2

    @property
    def mult_bits(self) -> int:
        m = np.asarray(self.mult)
        return signed_bits(int(m.min()), int(m.max()))

    @property
    def bias_bits(self) -> int:
        b = np.asarray(self.bias)
        return signed_bits(int(b.min()), int(b.max()))


@dataclass(frozen=True, kw_only=True, eq=False)
class NeuronConfig:
    """HD-LIF neurons of one layer, updated ``lanes`` at a time (lane ``j`` owns channels ``o % lanes == j``).

    ``lambda_t`` / ``theta_t`` are ``[T]`` (one per step) or ``[T, O]`` (per channel);
    ``kind = "parallel"`` is stateless (``lambda_t == 0``) and keeps no membranes;
    ``kind = "lif"`` fires binary spikes (``max_code = 1``) and resets to ``v_reset``
    (``reset = "value"``) or by subtracting ``theta_t`` (``reset = "subtract"``).
    """
    channels: int
    neurons: int                # per step, before pooling (positions x channels)
    lanes: int
    T: int
    lambda_t: np.ndarray
    theta_t: np.ndarray
    lambda_frac: int
    frac: int
    max_code: int
    current_bits: int
    membrane_bits: int
    leak_bits: int
    kind: str = "vanilla"
    reset: str = "value"
    v_reset: int = 0
    rom_logic_depth: int = ROM_LOGIC_DEPTH      # its parameter ROM (per-channel lambda / theta) is logic up to this

    def __post_init__(self):
        for name in ("channels", "neurons", "lanes", "T", "lambda_frac", "frac", "max_code",
                     "current_bits", "membrane_bits", "leak_bits"):
            _pos_int("NeuronConfig", name, getattr(self, name))
        _rom_logic_depth("NeuronConfig", self.rom_logic_depth)
        if self.kind not in NEURON_KINDS:
            raise ValueError(f"NeuronConfig.kind must be one of {NEURON_KINDS}, not {self.kind!r}")
        if self.kind == "lif" and (self.max_code != 1 or self.reset not in RESET_KINDS
                                   or not isinstance(self.v_reset, int)):
            raise ValueError(f"NeuronConfig: a lif neuron has max_code 1, reset in {RESET_KINDS} and an "
                             f"integer v_reset, not {self.max_code}, {self.reset!r}, {self.v_reset!r}")
        for name in ("lambda_t", "theta_t"):
            a = np.asarray(getattr(self, name))
            if a.shape not in ((self.T,), (self.T, self.channels)):
                raise ValueError(f"NeuronConfig.{name} must have shape [{self.T}] or "
                                 f"[{self.T}, {self.channels}], not {list(a.shape)}")
        if self.kind == "parallel" and np.asarray(self.lambda_t).any():
            raise ValueError("NeuronConfig.lambda_t must be all zero for a parallel (stateless) neuron")
        if self.channels % self.lanes or self.neurons % self.channels:
            raise ValueError(f"NeuronConfig: lanes={self.lanes} must divide the {self.channels} channels, "
                             f"which must divide the {self.neurons} neurons")

    @property
    def code_bits(self) -> int:
        return self.max_code.bit_length()

    @property
    def stateful(self) -> bool:
        """Keeps residual membranes between steps (every kind but Parallel HD-LIF)."""
        return self.kind != "parallel"

    @property
    def integrates(self) -> bool:
        """No leak (IF: every ``lambda_t`` is ``2**lambda_frac``): ``m = v + I``, no multiplier."""
        return self.stateful and bool((np.asarray(self.lambda_t) == 1 << self.lambda_frac).all())

    @property
    def per_channel(self) -> bool:
        return np.asarray(self.lambda_t).ndim == 2 or np.asarray(self.theta_t).ndim == 2

    @property
    def lambda_bits(self) -> int:
        lam = np.asarray(self.lambda_t)
        return signed_bits(int(lam.min()), int(lam.max()))

    @property
    def words_per_lane(self) -> int:
        return self.neurons // self.lanes


# ---------------------------------------------------------------------------------------------
# Layers and the accelerator

@dataclass(frozen=True, kw_only=True, eq=False)
class OutputLayout:
    """Where a layer's codes go: the next layer's input buffer (``simd`` codes per word)."""
    simd: int
    packed: bool                # fc consumer: word = element // simd; conv consumer: per pixel
    channels: int               # the producer's channels O
    positions: int              # output positions after pooling
    code_bits: int
    events: bool = False        # also list the non-zero words (for a consumer that skips zeros)
    lane_lists: bool = False    # pixels only: each lane lists its own non-zero pixels (entry_bits each)

    def __post_init__(self):
        if self.lane_lists and not (self.events and self.packed):
            raise ValueError("OutputLayout.lane_lists: lists per lane are an fc stem's pixels that skip zeros "
                             "(events and packed)")

    @property
    def cf(self) -> int:
        return -(-self.channels // self.simd)

    @property
    def entry_bits(self) -> int:
        """Bits of a lane of a buffer word (:func:`lane_entry_bits`)."""
        return lane_entry_bits(self.code_bits, self.words, self.lane_lists)

    @property
    def words(self) -> int:
        if self.packed:
            return -(-self.channels * self.positions // self.simd)
        return self.positions * self.cf


@dataclass(frozen=True, kw_only=True, eq=False)
class CurrentFrame:
    """A frame of currents one engine writes and a later one adds to its own (a residual network's
    stream, or a block's shortcut): ``lanes`` currents of ``bits`` bits per word, ``words`` words
    per slot in both engines' sweep order (position, then channel group), ``slots`` slots (two,
    plus one per engine the stream skips, so the writer need not wait for the reader).

    ``per_image``: the current is the same at every time step of an image (the stem's: direct
    encoding), so the writer writes it at step 0 only and the reader releases it after step
    ``T - 1``: a slot holds an image, and two slots let the writer run ahead by a whole image,
    where items would need one more slot per engine skipped."""
    source: str                 # the engine that writes it
    sink: str                   # the engine that adds it
    lanes: int
    words: int
    bits: int
    slots: int = 2
    per_image: bool = False

    def __post_init__(self):
        for k in ("lanes", "words", "bits"):
            _pos_int(f"CurrentFrame({self.source} -> {self.sink})", k, getattr(self, k))
        if not (isinstance(self.slots, int) and self.slots >= 2):
            raise ValueError(f"CurrentFrame({self.source} -> {self.sink}).slots must be >= 2, not {self.slots!r}")
        if self.per_image and self.slots != 2:
            raise ValueError(f"CurrentFrame({self.source} -> {self.sink}): a frame per image has 2 slots, "
                             f"not {self.slots}")


@dataclass(frozen=True, kw_only=True, eq=False)
class SecaConfig:
    """Channel attention on an engine's current map, per item (a graph's ``seca`` node,
    :func:`golden.graph.seca`): the channel sums over space, a ``k``-tap convolution across
    channels, the sigmoid table and ``(x * s + 2**(q - 1)) >> q``; :class:`rtl_gen.seca.SecaStage`.
    ``before_add``: it scales the engine's requantized current before the residual add (SECA_I on
    a block's second conv), else after it (SECA_II, or no add)."""
    channels: int
    lanes: int
    words: int                  # groups per item: positions x channels / lanes
    T: int
    taps: np.ndarray
    zmult: int
    zshift: int
    table: np.ndarray
    q: int
    in_bits: int                # the current it scales
    sum_bits: int
    z_bits: int
    z_product_bits: int
    product_bits: int
    out_bits: int
    before_add: bool = False

    def __post_init__(self):
        for k in ("channels", "lanes", "words", "T", "in_bits", "sum_bits", "z_bits", "out_bits", "q"):
            _pos_int("SecaConfig", k, getattr(self, k))
        if self.channels % self.lanes or len(self.taps) % 2 == 0 or len(self.table) % 2:
            raise ValueError(f"SecaConfig: lanes {self.lanes} must divide the channels {self.channels}, the taps "
                             f"({len(self.taps)}) be odd and the table ({len(self.table)}) even")

    @property
    def positions(self) -> int:
        return self.words * self.lanes // self.channels


@dataclass(frozen=True, kw_only=True, eq=False)
class HDLIFLayerConfig:
    name: str
    synapse: SynapseConfig
    requant: RequantConfig
    neuron: NeuronConfig
    pool: int
    direct: bool                # the stem: its input (the pixels) is the same at every step
    out: OutputLayout
    cache: str = "current"      # stem only: cache the "current" or the "acc" (per-step requant)
                                # once per image; "none": recompute it at every step
    pool_op: str = "max"        # pool 2: the window's "max" or its "sum" (average pooling); "gsum" (pool 1):
                                # the sum over every position (a graph's global average pooling)
    # a graph's engines (:mod:`rtl_gen.graph`); a sequential network leaves them at their defaults
    source: str = ""            # the engine whose codes it reads ("": the previous one)
    residual: CurrentFrame | None = None    # a current added to the requantized one, before the neurons
    stream: CurrentFrame | None = None      # where the neurons' input current is also written
    membn: RequantConfig | None = None      # a Mem-BN neuron's input map (the graph's ``affine``), after the stream
    seca: SecaConfig | None = None          # channel attention on the requantized current (two passes per item)

    def __post_init__(self):
        if self.pool_op not in ("max", "sum", "gsum") or (self.pool_op == "sum" and self.pool != 2) or \
                (self.pool_op == "gsum" and (self.pool != 1 or self.out.positions != 1)):
            raise ValueError(f"HDLIFLayerConfig({self.name}).pool_op must be 'max', 'sum' with pool 2, or 'gsum' "
                             f"with pool 1 and one output position, not {self.pool_op!r} (pool {self.pool})")
        for f, what in ((self.residual, "residual"), (self.stream, "stream")):
            if f is None:
                continue
            if self.pool != 1 or f.lanes != self.neuron.lanes or f.words != self.neuron.words_per_lane:
                raise ValueError(f"HDLIFLayerConfig({self.name}).{what}: a current frame is read and written in "
                                 f"the sweep order of an unpooled layer, {self.neuron.lanes} lanes x "
                                 f"{self.neuron.words_per_lane} words (not pool {self.pool}, {f.lanes} x {f.words})")
        if self.residual is not None and (self.direct or self.residual.sink != self.name):
            raise ValueError(f"HDLIFLayerConfig({self.name}).residual must be a frame into this engine, after the stem")
        if self.stream is not None and self.stream.source != self.name:
            raise ValueError(f"HDLIFLayerConfig({self.name}).stream must be a frame this engine writes")
        if self.seca is not None and (self.direct or self.pool != 1 or self.seca.lanes != self.neuron.lanes or
                                      self.seca.words != self.neuron.words_per_lane):
            raise ValueError(f"HDLIFLayerConfig({self.name}).seca: channel attention after the stem, unpooled, "
                             f"{self.neuron.lanes} lanes x {self.neuron.words_per_lane} words")

    @property
    def has_neurons(self) -> bool:
        return True

    @property
    def pooled(self) -> bool:
        """Whether the neurons' codes pass a pool (2 x 2, or the global sum) before the writer."""
        return self.pool == 2 or self.pool_op == "gsum"

    @property
    def recompute(self) -> bool:
        """A stem that sweeps the held pixel frame at every step instead of caching its sums."""
        return self.direct and self.cache == "none"

    @property
    def fold(self) -> Folding:
        return self.synapse.fold


@dataclass(frozen=True, kw_only=True, eq=False)
class CurrentLayerConfig:
    """A synapse whose requantized current goes to a frame, not to neurons: a residual block's
    shortcut convolution (:class:`rtl_gen.current_engine.CurrentEngine`)."""
    name: str
    synapse: SynapseConfig
    requant: RequantConfig
    stream: CurrentFrame
    source: str = ""

    def __post_init__(self):
        syn, f = self.synapse, self.stream
        if syn.pool != 1 or f.source != self.name or f.lanes != syn.fold.nl or \
                f.words * f.lanes != syn.positions * syn.out_channels or f.bits != self.requant.out_bits:
            raise ValueError(f"CurrentLayerConfig({self.name}): its frame must be written by it, "
                             f"{syn.fold.nl} lanes x {syn.positions * syn.out_channels // syn.fold.nl} words of "
                             f"{self.requant.out_bits} bits, unpooled")

    direct = False
    recompute = False
    residual = None
    seca = None
    has_neurons = False

    @property
    def fold(self) -> Folding:
        return self.synapse.fold


@dataclass(frozen=True, kw_only=True, eq=False)
class ReadoutConfig:
    name: str
    synapse: SynapseConfig
    requant: RequantConfig      # score = acc * mult + bias (shift 0)
    score_bits: int
    sum_bits: int
    T: int
    source: str = ""            # the engine whose codes it reads ("": the last one)

    residual = None
    stream = None
    seca = None
    has_neurons = False
    direct = False
    recompute = False

    @property
    def classes(self) -> int:
        return self.synapse.out_channels

    @property
    def fold(self) -> Folding:
        return self.synapse.fold


@dataclass(frozen=True, kw_only=True, eq=False)
class AcceleratorConfig:
    name: str
    T: int
    pixel_bits: int
    input_shape: tuple          # [C, H, W] or [features]
    features: int
    layers: tuple               # HDLIFLayerConfig ...
    readout: ReadoutConfig
    pixel_layout: OutputLayout  # how the loader stores the pixels for the stem
    neuron_nodes: dict = field(default_factory=dict)    # a graph's engines: engine -> its neuron node
    pixel_lanes: int = 1        # pixels per beat of the ``pixels`` stream (pixel i of a beat in bits i*b ..)

    def __post_init__(self):
        check_pixel_lanes(self.pixel_lanes, features=self.features, layout=self.pixel_layout)

    @property
    def pixel_beats(self) -> int:
        """Beats of the ``pixels`` stream per image: the loader's clocks per image at full rate."""
        return self.features // self.pixel_lanes

    def source_of(self, layer) -> str:
        """The engine whose codes ``layer`` (an engine after the stem, or the readout) reads."""
        if layer.source:
            return layer.source
        engines = list(self.layers) + [self.readout]
        return engines[engines.index(layer) - 1].name

    def readers_of(self, name: str) -> list:
        """The engines (and the readout) that read engine ``name``'s codes, in order."""
        return [e for e in list(self.layers[1:]) + [self.readout] if self.source_of(e) == name]

    def codes_buffer(self, name: str) -> str:
        """The instance name of engine ``name``'s codes buffer: ``<reader>_input``, or
        ``<name>_codes`` when several engines read it."""
        readers = self.readers_of(name)
        return f"{readers[0].name}_input" if len(readers) == 1 else f"{name}_codes"

    @property
    def is_graph(self) -> bool:
        return any(layer.source for layer in self.layers) or bool(self.readout.source)

    @property
    def lanes(self) -> tuple:
        """MAC lanes (``pe x simd``) of every synaptic layer, the readout last."""
        return tuple(layer.fold.lanes for layer in self.layers) + (self.readout.fold.lanes,)

    @property
    def foldings(self) -> dict:
        out = {layer.name: str(layer.fold) for layer in self.layers}
        out[self.readout.name] = str(self.readout.fold)
        return out

    @property
    def label_bits(self) -> int:
        return bits_for(self.readout.classes)


def nonzero_words(values, simd: int) -> np.ndarray:
    """Which words of ``simd`` consecutive values along the last axis (the last word padded with
    zeros) hold a non-zero value: the words a zero-skipping consumer visits."""
    nz = np.asarray(values) != 0
    pad = [(0, 0)] * (nz.ndim - 1) + [(0, (-nz.shape[-1]) % simd)]
    return np.pad(nz, pad).reshape(nz.shape[:-1] + (-1, simd)).any(axis=-1)


def lane_list_lengths(values, simd: int) -> np.ndarray:
    """The longest of the ``simd`` lanes' lists of non-zero values (value ``i`` of the last axis
    in lane ``i % simd``): the entries a stem with lane lists walks per output fold."""
    nz = np.asarray(values) != 0
    pad = [(0, 0)] * (nz.ndim - 1) + [(0, (-nz.shape[-1]) % simd)]
    return np.pad(nz, pad).reshape(nz.shape[:-1] + (-1, simd)).sum(axis=-2).max(axis=-1)


#: what ``skip_zero_pixels`` may say: off, the loader lists the non-zero pixel words (the stem
#: walks them), or each stem lane lists its own non-zero pixels (``True`` means ``"words"``)
SKIP_PIXELS_MODES = (False, True, "words", "lanes")


def skip_pixels_mode(value) -> str | None:
    """``skip_zero_pixels`` normalized: ``None``, ``"words"`` or ``"lanes"``; else a ValueError."""
    if value is False or value is None:
        return None
    if value is True or value == "words":
        return "words"
    if value == "lanes":
        return "lanes"
    raise ValueError(f"skip_zero_pixels must be one of {SKIP_PIXELS_MODES}, not {value!r}")


def check_pixel_lanes(lanes, *, features: int, layout: OutputLayout) -> None:
    """``lanes`` pixels per beat of the ``pixels`` stream, or a ValueError saying what is allowed:
    a positive integer dividing ``features``; above 1 only for an fc stem (its pixels are packed
    ``simd`` per word in arrival order) whose ``simd`` it divides, so a beat writes lanes of one
    word of the pixel buffer."""
    if not (isinstance(lanes, numbers.Integral) and not isinstance(lanes, bool) and lanes >= 1):
        raise ValueError(f"pixel_lanes (pixels per beat) must be a positive integer, not {lanes!r}")
    if lanes == 1:
        return
    if not layout.packed:
        raise ValueError(f"pixel_lanes={lanes}: only an fc stem takes several pixels a beat (a conv stem stores "
                         f"each pixel in its own word); use pixel_lanes=1")
    if layout.lane_lists:
        # each lane's list takes at most one pixel a beat: a beat spans at most simd lanes
        if features % lanes or lanes > layout.simd:
            raise ValueError(f"pixel_lanes={lanes} must divide the input's {features} features and be at most the "
                             f"stem's simd={layout.simd} (each lane lists at most one pixel a beat): choose one of "
                             f"{[d for d in range(1, layout.simd + 1) if features % d == 0]}")
        return
    if features % lanes or layout.simd % lanes:
        raise ValueError(f"pixel_lanes={lanes} must divide the input's {features} features and the stem's "
                         f"simd={layout.simd} (a beat fills lanes of one pixel-buffer word): choose one of "
                         f"{[d for d in range(1, layout.simd + 1) if layout.simd % d == 0 and features % d == 0]}, "
                         f"or a stem folding with a wider simd")


# ---------------------------------------------------------------------------------------------
# From a bundle

def _layer_geometry(layer) -> dict:
    if isinstance(layer, HDLIFConvLayer):
        C, H, W = layer.in_shape
        return dict(channels=C, height=H, width=W, out_channels=layer.out_channels, kernel=layer.kernel,
                    stride=layer.stride, padding=layer.padding, pool=layer.pool)
    return dict(channels=layer.in_features, out_channels=layer.out_features)


def _hwc_columns(weight: np.ndarray, prev_shape: tuple) -> np.ndarray:
    """Permute fc weight columns from C, H, W order to H, W, C (the buffers' element order)."""
    if len(prev_shape) != 3:
        return weight
    C, H, W = prev_shape
    O = weight.shape[0]
    return weight.reshape(O, C, H, W).transpose(0, 2, 3, 1).reshape(O, C * H * W)


def _layer_shape(layer) -> tuple:
    return tuple(layer.out_shape) if isinstance(layer, HDLIFConvLayer) else (layer.out_features,)


def event_eligible(layer, index: int) -> bool:
    """Whether layer ``index`` can be event-driven: a conv layer after the stem, of stride 1,
    that is not a 1 x 1 convolution over a 1 x 1 frame (the generator builds that as an fc layer)."""
    if index == 0 or layer.kind != "hdlif_conv" or layer.stride != 1:
        return False
    _, H, W = layer.in_shape
    return not (H == W == 1 and layer.kernel == 1)


def event_layers(bundle: Bundle, event) -> frozenset:
    """The layers ``event`` names (a comma string or a list of names; ``None`` / ``"none"`` /
    ``"auto"``: none here (``auto`` lets a folding search choose, :mod:`rtl_gen.folding`);
    ``"all"``: every conv layer after the stem whose stride is 1), each checked: only a conv
    layer after the stem, of stride 1, can be event-driven."""
    convs = [layer.name for i, layer in enumerate(bundle.layers) if event_eligible(layer, i)]
    if event is None or event in ("none", "auto") or event == ():
        return frozenset()
    if event == "all":
        return frozenset(convs)
    names = [n.strip() for n in event.split(",")] if isinstance(event, str) else list(event)
    known = [layer.name for layer in bundle.layers]
    for n in names:
        if n not in known:
            raise ValueError(f"event names unknown layer {n!r}; the layers are {known}")
        if n not in convs:
            raise ValueError(f"event: layer {n} cannot be event-driven (only a conv layer after the stem, of "
                             f"stride 1, over more than one pixel: {', '.join(convs) or 'this network has none'})")
    return frozenset(names)


def build(bundle: Bundle, foldings: list, *, skip_zero_weights: bool = False, stem: str = "cache",
          skip_zero_spikes: bool = False, activity: dict | None = None, event=None,
          pixel_lanes: int = 1, skip_zero_pixels: bool = False,
          rom_logic_depth: int = ROM_LOGIC_DEPTH, carry_cells: str | None = None,
          int8_lanes: str = "logic") -> AcceleratorConfig:
    """The configs for an explicit folding per synaptic layer (readout last); ``event``: the
    layers that are event-driven (:func:`event_layers`); ``pixel_lanes``: pixels per beat of the
    ``pixels`` stream (:func:`check_pixel_lanes`); ``skip_zero_pixels`` (:func:`skip_pixels_mode`):
    an fc stem walks only the pixel words the loader listed as non-zero (``True`` / ``"words"``),
    or each of its ``simd`` lanes walks its own list of non-zero pixels (``"lanes"``);
    ``activity[stem]``: the expected share of words (the longest lane's list) it walks.
    ``rom_logic_depth``: every ROM (weights, schedules, parameters) of at most that many words is
    LUT logic, deeper ones block RAM (default :data:`ROM_LOGIC_DEPTH`; lower it where LUTs are
    short and block RAMs are not).  ``carry_cells`` (:data:`CARRY_CELLS`): the event-driven
    layers' adders and the 8-bit multipliers' first adders as hand-placed carry cells of that
    family (:mod:`rtl_gen.carry`; with ``int8_lanes="dsp"`` the multipliers have none).
    ``int8_lanes`` (:data:`INT8_LANES`): the 8-bit weights' lanes multiply in logic or in a
    multiplier block each."""
    if stem not in ("cache", "recompute"):
        raise ValueError(f"stem must be 'cache' or 'recompute', not {stem!r}")
    if carry_cells not in CARRY_CELLS:
        raise ValueError(f"carry_cells must be one of {CARRY_CELLS} (None: plain adders, any device), "
                         f"not {carry_cells!r}")
    if int8_lanes not in INT8_LANES:
        raise ValueError(f"int8_lanes must be one of {INT8_LANES} (logic: shift-add in LUTs, any device; dsp: a "
                         f"multiplier block per lane), not {int8_lanes!r}")
    n_syn = len(bundle.layers)
    if len(foldings) != n_syn:
        raise ValueError(f"folding must give one entry per synaptic layer ({n_syn}), not {len(foldings)}")
    events_on = event if isinstance(event, frozenset) else event_layers(bundle, event)
    pixel_mode = skip_pixels_mode(skip_zero_pixels)
    if pixel_mode and bundle.layers[0].kind == "hdlif_conv":
        raise ValueError(f"skip_zero_pixels: only an fc stem skips zero pixels ({bundle.layers[0].name} is a "
                         f"conv layer: its windows read every pixel)")
    if pixel_mode == "lanes" and stem != "cache":
        raise ValueError("skip_zero_pixels='lanes' needs the cached stem (stem='cache'): a recomputed stem walks "
                         "the pixel words at every step; use skip_zero_pixels='words' there")
    widths = compute_widths(bundle.T, bundle.input, bundle.layers)
    T = bundle.T
    in_bits = bundle.input.bits
    prev_shape = tuple(bundle.input.shape)
    syns = []
    for layer, fold, w in zip(bundle.layers, foldings, widths):
        geo = _layer_geometry(layer)
        if isinstance(layer, HDLIFConvLayer):
            weight = layer.weight
        else:
            weight = _hwc_columns(layer.weight, prev_shape)[:, :, None, None]
        # the stem reads the pixels while they arrive, unless it walks the loader's list of
        # non-zero words (complete, with its count, only once the image is)
        trailing = layer is bundle.layers[0] and stem == "cache" and (len(prev_shape) == 1 or prev_shape[0] == 1) \
            and not pixel_mode
        skip_in = (skip_zero_spikes and layer is not bundle.layers[0] and layer.kind != "hdlif_conv") or \
            (bool(pixel_mode) and layer is bundle.layers[0])
        ev = layer.name in events_on or fold.event
        if fold.event and layer is bundle.layers[0]:
            raise ValueError(f"layer {layer.name}: folding {fold} is event-driven, but the stem reads pixels, not "
                             f"spike codes (only a conv layer after the stem, of stride 1, can be)")
        if ev and fold.event is False:
            fold = Folding(pe=fold.pe, simd=fold.simd, nl=fold.nl, event=True)
        syns.append(SynapseConfig(name=layer.name, **geo, weight=np.asarray(weight, np.int64),
                                  weight_kind=layer.weights, in_bits=in_bits, acc_bits=w["acc_bits"],
                                  fold=fold, T=T, trailing=trailing,
                                  skip_zero_weights=skip_zero_weights and not skip_in and not ev,
                                  skip_zero_inputs=skip_in, event=ev,
                                  lane_lists=pixel_mode == "lanes" and layer is bundle.layers[0],
                                  rom_logic_depth=rom_logic_depth,
                                  carry_cells=carry_cells if (ev or (layer.weights == "int8" and
                                                                     int8_lanes == "logic")) else None,
                                  int8_lanes=int8_lanes if layer.weights == "int8" else "logic",
                                  activity=float((activity or {}).get(layer.name, 1.0)) if (skip_in or ev) else 1.0))
        if layer.kind != "readout_fc":
            in_bits = layer.out_max.bit_length()        # codes, or a sum pool's sums
            prev_shape = _layer_shape(layer)

    def layout_for(consumer: SynapseConfig, channels: int, positions: int, code_bits: int) -> OutputLayout:
        return OutputLayout(simd=consumer.fold.simd, packed=consumer.is_fc, channels=channels,
                            positions=positions, code_bits=code_bits, events=consumer.skip_zero_inputs)

    layers = []
    for i, (layer, syn, w) in enumerate(zip(bundle.layers[:-1], syns[:-1], widths[:-1])):
        O = syn.out_channels
        nl = syn.fold.nl
        consumer = syns[i + 1]
        if nl > consumer.fold.simd:
            raise ValueError(f"layer {layer.name}: nl={nl} neuron lanes write nl codes per clock into "
                             f"{consumer.name}'s input words of simd={consumer.fold.simd}; choose nl <= that simd")
        out_pos = syn.out_height * syn.out_width
        code_bits = layer.out_max.bit_length()        # what the next buffer holds
        per_step = np.asarray(layer.mult).ndim == 2
        cache = "acc" if (layer.direct and (per_step or w["acc_bits"] < w["current_bits"])) else "current"
        if layer.direct and stem == "recompute":
            cache = "none"
        rq = RequantConfig(channels=O, lanes=nl, T=T, mult=np.asarray(layer.mult, np.int64),
                           bias=np.asarray(layer.bias, np.int64), shift=layer.shift, acc_bits=w["acc_bits"],
                           product_bits=w["product_bits"], out_bits=w["current_bits"], rom_logic_depth=rom_logic_depth)
        nc = NeuronConfig(channels=O, neurons=syn.positions * O, lanes=nl, T=T,
                          lambda_t=np.asarray(layer.lambda_t, np.int64), theta_t=np.asarray(layer.theta_t, np.int64),
                          lambda_frac=layer.lambda_frac, frac=layer.frac, max_code=layer.max_code,
                          current_bits=w["current_bits"], membrane_bits=w["membrane_bits"],
                          leak_bits=w["leak_bits"], kind=layer.neuron, rom_logic_depth=rom_logic_depth,
                          **(dict(reset=layer.reset, v_reset=int(layer.v_reset)) if layer.neuron == "lif" else {}))
        layers.append(HDLIFLayerConfig(name=layer.name, synapse=syn, requant=rq, neuron=nc, pool=syn.pool,
                                       direct=layer.direct, out=layout_for(consumer, O, out_pos, code_bits),
                                       cache=cache, pool_op=getattr(layer, "pool_op", "max")))
    ro, syn, w = bundle.readout, syns[-1], widths[-1]
    if syn.fold.nl != 1:
        raise ValueError(f"readout {ro.name}: nl must be 1 (scores leave one per clock), not {syn.fold.nl}")
    rq = RequantConfig(channels=ro.out_features, lanes=1, T=T, mult=np.asarray(ro.mult, np.int64),
                       bias=np.asarray(ro.bias, np.int64), shift=0, acc_bits=w["acc_bits"],
                       product_bits=w["score_bits"], out_bits=w["score_bits"], rom_logic_depth=rom_logic_depth)
    readout = ReadoutConfig(name=ro.name, synapse=syn, requant=rq, score_bits=w["score_bits"],
                            sum_bits=w["sum_bits"], T=T)
    stem = syns[0]
    pixel_layout = OutputLayout(simd=stem.fold.simd, packed=stem.is_fc, channels=stem.channels if not stem.is_fc else 1,
                                positions=stem.height * stem.width if not stem.is_fc else stem.channels,
                                code_bits=bundle.input.bits, events=stem.skip_zero_inputs,
                                lane_lists=stem.lane_lists)
    return AcceleratorConfig(name=bundle.name, T=T, pixel_bits=bundle.input.bits,
                             input_shape=tuple(bundle.input.shape), features=bundle.input.features,
                             layers=tuple(layers), readout=readout, pixel_layout=pixel_layout,
                             pixel_lanes=pixel_lanes)
