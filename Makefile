# hdlif-fpga: a thin front over `python -m flow`.  Every target implies `make setup`.
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

MODEL   ?= demo
DATASET ?= digits
HIDDEN  ?= 128
T       ?= 4
EPOCHS  ?= 30
SEED    ?= 0
MODE    ?= online
LANES   ?= 16
N       ?= 0
DEVICE  ?= 25k
FREQ    ?= 50
PROJECT ?= network
COSIM   ?= 0
VSYNTH  ?= 0

.PHONY: help setup demo train export rtl sim bitstream hls hls-synth test clean distclean
help:
	@echo "make demo                        whole flow on digits: train, export, rtl, sim, bitstream"
	@echo "make test                        the test suite"
	@echo "make train MODEL=name [DATASET= HIDDEN= T= EPOCHS= SEED= MODE=online|stbp]   (then exports)"
	@echo "make export MODEL=name           integer bundle + golden vectors"
	@echo "make rtl MODEL=name [LANES=16]   Amaranth -> Verilog"
	@echo "make sim MODEL=name [N=0]        Verilator + cocotb, bit-exact vs golden"
	@echo "make bitstream MODEL=name [DEVICE=25k FREQ=50]"
	@echo "make hls MODEL=name [N=0]        hls4ml projects, C simulation bit-exact vs golden"
	@echo "make hls-synth MODEL=name [PROJECT=network COSIM=0 VSYNTH=0]   Vitis HLS (+ Vivado); needs AMD tools"

setup: $(STAMP)
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: setup
	$(PY) -m flow demo --epochs $(EPOCHS)

train: setup
	$(PY) -m flow train $(MODEL) --dataset $(DATASET) --hidden $(HIDDEN) --T $(T) --epochs $(EPOCHS) --seed $(SEED) --mode $(MODE)
	$(PY) -m flow export $(MODEL)

export: setup
	$(PY) -m flow export $(MODEL)

rtl: setup
	$(PY) -m flow rtl $(MODEL) --lanes $(LANES)

sim: setup
	$(PY) -m flow sim $(MODEL) --n $(N)

bitstream: setup
	$(PY) -m flow bitstream $(MODEL) --device $(DEVICE) --freq $(FREQ)

hls: setup
	$(PY) -m flow hls $(MODEL) --n $(N)

hls-synth: setup
	$(PY) -m flow hls-synth $(MODEL) --project $(PROJECT) $(if $(filter 1,$(COSIM)),--cosim) $(if $(filter 1,$(VSYNTH)),--vsynth)

test: setup
	$(PY) -m pytest -q tests

clean:
	rm -rf build sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV) runs
