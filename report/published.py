"""Published FPGA designs the project's accelerators are compared with.

Only figures stated in the cited source (its abstract, where that is all that was read) are
filled in; everything else is ``None`` and shows as "not stated".  Logic is counted as each
source counts it (Xilinx LUTs or "logic cells"), so the comparison is approximate across
vendors; the ECP5 figures of this project are nextpnr's LUT4 count (``TRELLIS_SLICE`` LUTs).
"""

from __future__ import annotations

#: one row per design and data set
DESIGNS: tuple[dict, ...] = (
    {"design": "Spiker+", "year": 2024, "kind": "SNN (LIF), clock-driven", "dataset": "MNIST",
     "network": "784-128-10 fully connected (the topology issue 5 compares with)", "device": None,
     "accuracy": None, "latency_us": 780.0, "throughput_per_s": None, "logic": 7612, "logic_unit": "logic cells",
     "brams": 18, "power_mw": 180.0,
     "source": "A. Carpegna, A. Savino, S. Di Carlo, \"Spiker+: a framework for the generation of efficient Spiking "
               "Neural Networks FPGA accelerators for inference at the edge\", IEEE TETC 2024 (abstract)",
     "url": "https://arxiv.org/abs/2401.01141", "same_topology_as": "fc_784_128_10"},
    {"design": "Spiker", "year": 2022, "kind": "SNN (LIF), clock-driven", "dataset": "MNIST",
     "network": "one layer of 400 LIF neurons", "device": "Xilinx Artix-7", "accuracy": None, "latency_us": 215.0,
     "throughput_per_s": None, "logic": None, "logic_unit": None, "brams": None, "power_mw": None,
     "energy_per_image_uj": 13000.0,
     "source": "A. Carpegna, A. Savino, S. Di Carlo, \"Spiker: an FPGA-optimized Hardware acceleration for Spiking "
               "Neural Networks\", ISVLSI 2022 (abstract: 215 us and 13 mJ per image)",
     "url": "https://arxiv.org/abs/2201.06993"},
    {"design": "FINN (SFC, binarized MLP)", "year": 2017, "kind": "BNN (not spiking), dataflow", "dataset": "MNIST",
     "network": "binarized fully connected", "device": "Xilinx Zynq ZC706", "accuracy": 0.958, "latency_us": 0.31,
     "throughput_per_s": 12.3e6, "logic": None, "logic_unit": None, "brams": None, "power_mw": None,
     "note": "under 25 W total system power",
     "source": "Y. Umuroglu et al., \"FINN: A Framework for Fast, Scalable Binarized Neural Network Inference\", "
               "FPGA 2017 (abstract)",
     "url": "https://arxiv.org/abs/1612.07119"},
    {"design": "snn-fpga (Fan, Levy)", "year": 2025, "kind": "SNN, synaptic array", "dataset": "MNIST",
     "network": "fully connected", "device": "Xilinx Artix-7 at 100 MHz", "accuracy": None, "latency_us": 520.0,
     "throughput_per_s": None, "logic": 6358, "logic_unit": "LUTs", "brams": 40.5, "power_mw": None,
     "source": "A. Fan, S. D. Levy, \"A Robust, Open-Source Framework for Spiking Neural Networks on Low-End "
               "FPGAs\", 2025 (abstract)",
     "url": "https://arxiv.org/abs/2507.07284"},
    {"design": "Flexi-NeurA", "year": 2026, "kind": "SNN (LIF), time-multiplexed, event-driven", "dataset": "MNIST",
     "network": "256-128-10 fully connected, LIF", "device": None, "accuracy": 0.9723, "latency_us": 1100.0,
     "throughput_per_s": None, "logic": 1623, "logic_unit": "logic cells", "brams": 7, "power_mw": 111.0,
     "source": "\"Flexi-NeurA: A Configurable Neuromorphic Accelerator with Adaptive Bit-Precision Exploration "
               "for Edge SNNs\", 2026 (abstract)",
     "url": "https://arxiv.org/abs/2602.18140"},
    {"design": "LIF-only accelerator, differential time encoding", "year": 2025, "kind": "SNN (LIF)",
     "dataset": "MNIST", "network": "feed-forward LIF", "device": "Xilinx UltraScale+", "accuracy": 0.99,
     "accuracy_note": "> 99 %", "latency_us": 290.0, "throughput_per_s": None, "logic": None, "logic_unit": None,
     "brams": None, "power_mw": None,
     "source": "D. Windhager et al., \"Lightweight LIF-only SNN accelerator using differential time encoding\", "
               "2025 (abstract: about 0.29 ms per inference)",
     "url": "https://arxiv.org/abs/2505.11252"},
)
