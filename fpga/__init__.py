"""FPGA back-end stages of the accelerator generator.

``fpga.nextpnr`` runs the open-source Lattice flow (Yosys -> nextpnr -> packer) through the
YoWASP WebAssembly builds installed in the virtualenv; ``fpga.ecp5`` and ``fpga.ice40``
describe their parts for it.  ``fpga.boards`` lists the boards (pins and clocks from
``amaranth-boards``), ``fpga.pll`` the PLL settings, and ``fpga.board_flow`` builds a network
for a board: a bitstream with the clock set from the achieved Fmax (Lattice), or a Vivado
project with a Yosys resource estimate (Xilinx).
"""
