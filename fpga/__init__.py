"""FPGA back-end stages of the accelerator generator.

``fpga.ecp5`` turns generated Verilog into a Lattice ECP5 bitstream with the
open-source flow (Yosys ``synth_ecp5`` -> nextpnr-ecp5 -> ecppack), run through
the YoWASP WebAssembly builds installed in the virtualenv.
"""
