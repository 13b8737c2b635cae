"""Clock synthesis: which output frequencies each family's PLL can make, and its primitive.

Each ``*_pll`` function returns the :class:`PLLConfig` with the highest output frequency
at or below ``limit_mhz`` (``None`` when none exists); :func:`pll_instance` (or
:meth:`PLLConfig.instances`) turns one into the vendor primitive as an Amaranth ``Instance``.
A :class:`PLLConfig` is what :class:`rtl_gen.board_top.BoardTop` is clocked by: it is passed
in, so that the generator never imports this package.  The divider ranges are the vendors'
(and the ones ``ecppll`` / ``icepll`` search); ``tests/test_board_flow.py`` checks the
results against those tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PLLConfig", "ecp5_pll", "ice40_pll", "xc7_mmcm", "best_pll", "pll_instance"]


@dataclass(frozen=True, kw_only=True)
class PLLConfig:
    family: str              # "ecp5" | "ice40" | "xc7"
    fin_mhz: float
    fout_mhz: float
    fvco_mhz: float
    params: dict = field(default_factory=dict)

    @property
    def takes_pin(self) -> bool:
        """The primitive takes the clock pin itself (iCE40 ``SB_PLL40_PAD``), not a buffered clock."""
        return self.family == "ice40"

    def instances(self, clk_in, clk_out, locked) -> dict:
        """The vendor primitives of this setting, name -> ``Instance`` (:func:`pll_instance`)."""
        return pll_instance(self, clk_in, clk_out, locked)


def ecp5_pll(fin_mhz: float, limit_mhz: float) -> PLLConfig | None:
    """EHXPLLL, feedback from CLKOP: ``fout = fin / CLKI_DIV * CLKFB_DIV``,
    ``fvco = fout * CLKOP_DIV`` in 400..800 MHz, PFD 3.125..400 MHz, fout 3.125..400 MHz."""
    best = None
    for idiv in range(1, 129):
        fpfd = fin_mhz / idiv
        if not 3.125 <= fpfd <= 400:
            continue
        for fbdiv in range(1, 81):
            fout = fpfd * fbdiv
            if fout > limit_mhz + 1e-9 or not 3.125 <= fout <= 400:
                continue
            for odiv in range(128, 0, -1):          # the highest VCO frequency that fits
                fvco = fout * odiv
                if 400 <= fvco <= 800:
                    if best is None or fout > best.fout_mhz + 1e-9:
                        best = PLLConfig(family="ecp5", fin_mhz=fin_mhz, fout_mhz=fout, fvco_mhz=fvco,
                                         params={"CLKI_DIV": idiv, "CLKFB_DIV": fbdiv, "CLKOP_DIV": odiv,
                                                 "CLKOP_CPHASE": max(0, odiv // 2 - 1)})
                    break
    return best


def _ice40_filter(fpfd: float) -> int:
    for limit, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if fpfd < limit:
            return value
    return 6


def ice40_pll(fin_mhz: float, limit_mhz: float) -> PLLConfig | None:
    """SB_PLL40 (SIMPLE feedback): ``fout = fin / (DIVR+1) * (DIVF+1) / 2**DIVQ``,
    PFD 10..133 MHz, VCO 533..1066 MHz, DIVQ 1..6, fout 16..275 MHz."""
    best = None
    for divr in range(16):
        fpfd = fin_mhz / (divr + 1)
        if not 10 <= fpfd <= 133:
            continue
        for divf in range(128):
            fvco = fpfd * (divf + 1)
            if not 533 <= fvco <= 1066:
                continue
            for divq in range(1, 7):
                fout = fvco / (1 << divq)
                if 16 <= fout <= 275 and fout <= limit_mhz + 1e-9:
                    if best is None or fout > best.fout_mhz + 1e-9:
                        best = PLLConfig(family="ice40", fin_mhz=fin_mhz, fout_mhz=fout, fvco_mhz=fvco,
                                         params={"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                                 "FILTER_RANGE": _ice40_filter(fpfd)})
    return best


def xc7_mmcm(fin_mhz: float, limit_mhz: float) -> PLLConfig | None:
    """MMCME2_BASE (integer dividers): ``fout = fin * M / (D * O)``, PFD 10..450 MHz,
    VCO 600..1200 MHz (speed grades -1 / -1L), M 2..64, D 1..106, O 1..128."""
    best = None
    for d in range(1, 107):
        fpfd = fin_mhz / d
        if not 10 <= fpfd <= 450:
            continue
        for mult in range(2, 65):
            fvco = fpfd * mult
            if not 600 <= fvco <= 1200:
                continue
            for o in range(1, 129):
                fout = fvco / o
                if fout <= limit_mhz + 1e-9:
                    if best is None or fout > best.fout_mhz + 1e-9:
                        best = PLLConfig(family="xc7", fin_mhz=fin_mhz, fout_mhz=fout, fvco_mhz=fvco,
                                         params={"DIVCLK_DIVIDE": d, "CLKFBOUT_MULT_F": mult,
                                                 "CLKOUT0_DIVIDE_F": o})
                    break
    return best


def best_pll(family: str, fin_mhz: float, limit_mhz: float) -> PLLConfig | None:
    return {"ecp5": ecp5_pll, "ice40": ice40_pll, "xc7": xc7_mmcm}[family](fin_mhz, limit_mhz)


def pll_instance(cfg: PLLConfig, clk_in, clk_out, locked) -> dict:
    """The vendor primitives for ``cfg`` (name -> ``Instance``, to add as submodules):
    ``clk_in`` -> ``clk_out``, ``locked`` high when the output is stable.

    For iCE40, ``clk_in`` must be the clock pin itself (an IO port: ``SB_PLL40_PAD``).
    """
    from amaranth.hdl import Instance, Signal

    p = cfg.params
    if cfg.family == "ecp5":
        return {"pll": Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{cfg.fin_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{cfg.fout_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=p["CLKFB_DIV"],
            i_RST=0, i_STDBY=0, i_CLKI=clk_in, o_CLKOP=clk_out, i_CLKFB=clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked)}
    if cfg.family == "ice40":
        return {"pll": Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"],
            i_PACKAGEPIN=clk_in, i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)}
    if cfg.family == "xc7":
        feedback, unbuffered = Signal(name="mmcm_feedback"), Signal(name="mmcm_clkout0")
        return {"pll": Instance(
            "MMCME2_BASE",
            p_CLKIN1_PERIOD=round(1000 / cfg.fin_mhz, 3), p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"],
            p_CLKFBOUT_MULT_F=float(p["CLKFBOUT_MULT_F"]), p_CLKOUT0_DIVIDE_F=float(p["CLKOUT0_DIVIDE_F"]),
            i_CLKIN1=clk_in, i_RST=0, i_PWRDWN=0, i_CLKFBIN=feedback, o_CLKFBOUT=feedback,
            o_CLKOUT0=unbuffered, o_LOCKED=locked),
            "pll_bufg": Instance("BUFG", i_I=unbuffered, o_O=clk_out)}
    raise ValueError(f"PLL family must be ecp5, ice40 or xc7, not {cfg.family!r}")
