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
BOARD   ?=
BAUD    ?= 115200

.PHONY: help setup demo train export rtl sim bitstream vivado test test-slow clean distclean
help:
	@echo "make demo                        whole flow on digits: train, export, rtl, sim, bitstream"
	@echo "make test                        the test suite"
	@echo "make train MODEL=name [DATASET= HIDDEN= T= EPOCHS= SEED= MODE=online|stbp]   (then exports)"
	@echo "make export MODEL=name           integer bundle + golden vectors"
	@echo "make rtl MODEL=name [LANES=16]   Amaranth -> Verilog"
	@echo "make sim MODEL=name [N=0]        Verilator + cocotb, bit-exact vs golden"
	@echo "make bitstream MODEL=name [DEVICE=25k FREQ=50]"
	@echo "make bitstream MODEL=name BOARD=ulx3s|orangecrab|icebreaker [FREQ=auto LANES= BAUD=115200]"
	@echo "make vivado MODEL=name [BOARD=arty_a7_35t]   Vivado project + yosys synth_xilinx estimate"
	@echo "make test-slow                   the tests marked slow (board bitstreams for ECP5)"

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

# With BOARD= the board flow (FREQ defaults to auto there; LANES=16 is the plain default, so
# only a LANES given on the command line overrides the board's own).
bitstream: setup
ifeq ($(BOARD),)
	$(PY) -m flow bitstream $(MODEL) --device $(DEVICE) --freq $(FREQ)
else
	$(PY) -m flow bitstream $(MODEL) --board $(BOARD) --baud $(BAUD) \
	  $(if $(filter command line,$(origin FREQ)),--freq $(FREQ)) \
	  $(if $(filter command line,$(origin LANES)),--lanes $(LANES))
endif

vivado: setup
	$(PY) -m flow bitstream $(MODEL) --board $(or $(BOARD),arty_a7_35t) --baud $(BAUD) \
	  $(if $(filter command line,$(origin FREQ)),--freq $(FREQ)) \
	  $(if $(filter command line,$(origin LANES)),--lanes $(LANES))

test: setup
	$(PY) -m pytest -q -m "not slow" tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

clean:
	rm -rf build sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV) runs
