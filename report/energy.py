"""Energy per inference estimated from operation counts.

Two models, both arithmetic only (no memory access, no static power, no clock tree: on an FPGA
those dominate, so neither is a measurement; they are the figures SNN papers compare):

``integer`` -- the arithmetic this project's hardware performs, priced with the 45 nm
figures of M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014 (0.9 V): 32-bit integer add 0.1 pJ, 8-bit integer multiply 0.2 pJ, 32-bit integer
multiply 3.1 pJ.

* a synaptic operation with a ternary or binary weight adds or subtracts the input code:
  one 32-bit add (0.1 pJ);
* one with an 8-bit weight (stem on pixels, 8-bit classifier): an 8-bit multiply and a
  32-bit add (0.3 pJ);
* a neuron update per neuron and time step: the requantizer (one 32-bit multiply and add),
  the charge (``lambda_t * v``: one 32-bit multiply and add) and fire / P2-reset (two adds),
  6.6 pJ; a Parallel HD-LIF neuron has no charge: 3.4 pJ; a LIF / IF neuron (binary spike, reset
  to a value or by subtraction) the same as an HD-LIF one: 6.6 pJ;
* the readout's scale per class and step: one 32-bit multiply and add (3.2 pJ).

``float_convention`` -- the convention of the SNN literature (e.g. the HD-LIF paper's power
column), 32-bit floating point at 45 nm: ``E_MAC = 4.6 pJ`` for each multiply-accumulate of
the first layer (it sees the analog pixels) and ``E_AC = 0.9 pJ`` for each synaptic
accumulate triggered by a non-zero spike; neuron updates are not counted.

The HD-LIF paper (Hao et al., CVPR 2026) reports SOPs, NOPs and power but gives no
per-operation energies in its text, so these are the standard values.
"""

from __future__ import annotations

#: picojoules per operation, 45 nm (Horowitz, ISSCC 2014)
PJ = {"add32": 0.1, "mult8": 0.2, "mult32": 3.1, "float_mac": 4.6, "float_ac": 0.9}

SOURCES = {
    "integer": "M. Horowitz, \"Computing's energy problem (and what we can do about it)\", ISSCC 2014, "
               "45 nm: 32-bit int add 0.1 pJ, 8-bit int mult 0.2 pJ, 32-bit int mult 3.1 pJ",
    "float_convention": "SNN literature convention after Horowitz (ISSCC 2014), 45 nm 32-bit float: "
                        "E_MAC 4.6 pJ (first layer on pixels), E_AC 0.9 pJ per synaptic accumulate",
}

#: what one operation of each kind costs in the integer model (pJ)
SYNAPSE_PJ = {"ternary": PJ["add32"], "binary": PJ["add32"], "int8": PJ["mult8"] + PJ["add32"]}
NEURON_PJ = {"vanilla": 2 * (PJ["mult32"] + PJ["add32"]) + 2 * PJ["add32"],
             "parallel": (PJ["mult32"] + PJ["add32"]) + 2 * PJ["add32"],
             "lif": 2 * (PJ["mult32"] + PJ["add32"]) + 2 * PJ["add32"]}
READOUT_PJ = PJ["mult32"] + PJ["add32"]


def float_convention(layers: list[dict]) -> dict:
    """The literature's convention alone (``float_convention_pj``, ``float_mac_pj``,
    ``float_ac_pj``): ``E_MAC`` per dense multiply-accumulate of the stem, ``E_AC`` per synaptic
    operation of every other layer.  Needs only ``stem``, ``dense_macs`` and ``sops`` per layer, so
    it prices any network, whatever its weights (full-precision ones included)."""
    f_mac = sum(layer["dense_macs"] for layer in layers if layer.get("stem")) * PJ["float_mac"]
    f_ac = sum(layer["sops"] for layer in layers if not layer.get("stem")) * PJ["float_ac"]
    return {"float_convention_pj": f_mac + f_ac, "float_mac_pj": f_mac, "float_ac_pj": f_ac}


def estimate(layers: list[dict]) -> dict:
    """Energy per inference from per-layer operation counts.

    Each entry of ``layers`` has ``weights`` (ternary | binary | int8), ``sops`` (synaptic
    operations per inference: non-zero input x non-zero weight), ``dense_macs`` (every
    input x every weight), ``stem`` (True for the first layer, which sees the pixels),
    ``neuron`` (vanilla | parallel | lif | None for the readout) and ``neuron_updates`` (neurons x
    steps per inference; for the readout, classes x steps).  Returns picojoules per inference
    for both models, their parts, and the model's description.
    """
    syn = neu = 0.0
    for layer in layers:
        kind = layer["weights"]
        if kind not in SYNAPSE_PJ:
            raise ValueError(f"weight kind must be one of {tuple(SYNAPSE_PJ)}, not {kind!r}")
        syn += layer["sops"] * SYNAPSE_PJ[kind]
        if layer.get("neuron") is None:
            neu += layer["neuron_updates"] * READOUT_PJ
        else:
            if layer["neuron"] not in NEURON_PJ:
                raise ValueError(f"neuron must be one of {tuple(NEURON_PJ)}, not {layer['neuron']!r}")
            neu += layer["neuron_updates"] * NEURON_PJ[layer["neuron"]]
    return {
        "integer_pj": syn + neu, "integer_synapse_pj": syn, "integer_neuron_pj": neu, **float_convention(layers),
        "pj_per_op": dict(PJ), "sources": dict(SOURCES),
        "scope": "arithmetic only: no memory access, static power or clock tree",
    }
