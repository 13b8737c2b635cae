"""cocotb + Verilator testbenches: generated Verilog against the golden model, bit for bit."""
