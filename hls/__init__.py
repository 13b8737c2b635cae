"""The HLS path: bundles -> hls4ml projects (Vitis backend, io_stream) with HD-LIF extension
layers, C-simulated bit-exact against the golden vectors; Vitis HLS synthesis behind its own step."""
