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
DATA_DIR ?=
ARCH    ?=
NEURON  ?= hdlif
BATCH   ?= 32
LR      ?= 2e-3
RESUME  ?= 0
FORCE   ?= 0
NPROC   ?= 1
AUGMENT ?= 0
CROP_PAD ?=
LANES   ?= 16
FOLD    ?=
TARGET  ?=
STEM    ?=
EVENT   ?=
PIXEL_LANES ?=
SKIP_ZERO_PIXELS ?=
ROM_LOGIC_DEPTH ?=
CARRY_CELLS ?=
INT8_LANES ?=
N       ?= 0
WAVES   ?= 0
COVERAGE ?= 0
DEVICE  ?= 25k
FREQ    ?= 50
BOARD   ?=
BAUD    ?= 115200
PROJECT ?= network
COSIM   ?= 0
VSYNTH  ?= 0
NIR     ?=
DT      ?=
RESET   ?=
WEIGHTS ?=
PARALLEL ?=
SECA    ?=
SHORTCUT ?=
HEAD    ?=
MEMBRANE_FRAC ?=
FRAMEWORK ?=

.PHONY: help setup demo train export import nir eval vectors rtl sim bitstream vivado hls hls-synth report results bench test test-slow fuzz clean distclean
help:
	@echo "make demo                        whole flow on digits: train, export, rtl, sim, bitstream (fails on an"
	@echo "                                 RTL mismatch or missed timing, after writing build/demo/summary.json)"
	@echo "make test                        the test suite"
	@echo "make train MODEL=name [DATASET=digits|fashion_mnist|mnist|cifar10|cifar100 DATA_DIR= ARCH= HIDDEN= NEURON="
	@echo "           MODE=online|stbp T= EPOCHS= BATCH= LR= SEED= AUGMENT=1 CROP_PAD= RESUME=1 FORCE=1 NPROC=2"
	@echo "           PARALLEL=0.5 (Parallel HD-LIF share) SECA=none|I|II SHORTCUT=spikes|stream HEAD=spikes|stream"
	@echo "           MEMBRANE_FRAC=8 (the integer graph's fixed point in the float network: float and golden agree)"
	@echo "           (resnet; stream: the authors' form, docs/training.md)]"
	@echo "           ARCH=resnet:16,32,64 exports an integer graph (golden/graph.py): golden, eval, vectors, hls; rtl, sim, bitstream (SECA_I / SECA_II, Mem-BN; not the stream forms)"
	@echo "           (then exports); DATA_DIR= the IDX files' folder (MNIST-like) or the CIFAR batches folder"
	@echo "           (cifar-10-batches-bin/ or -py/, cifar-100-binary/ or -python/) or its parent"
	@echo "           RESUME=1 continues a run (a setting that differs from the run's is refused);"
	@echo "           FORCE=1 trains an existing run again from scratch (refused without it)"
	@echo "make export MODEL=name [DATA_DIR=]   integer bundle + golden vectors"
	@echo "make import NIR=graph.nir MODEL=name [DATASET=digits DATA_DIR= T= DT= RESET=value|subtract"
	@echo "           WEIGHTS=int8|ternary FRAMEWORK=snntorch|spikingjelly FORCE=1]   a NIR graph -> runs/<name>/: integer"
	@echo "           bundle, graph copy, import.json, eval.json (golden vs the framework's forward), vectors.npz;"
	@echo "           T, DT, RESET default to the graph's (metadata T / dt, else 4 and dt inferred from r = tau / dt;"
	@echo "           a node's metadata reset: subtract, else v_reset); FORCE=1 replaces an existing run (docs/nir.md)"
	@echo "make nir MODEL=name              a LIF network (NEURON=lif, or imported) as a NIR graph -> build/<name>/<name>.nir"
	@echo "           (HD-LIF's graded spikes and P2-reset have no NIR primitive: refused)"
	@echo "make eval MODEL=name [DATASET= DATA_DIR=]   float vs golden accuracy and agreement -> <run>/eval.json"
	@echo "           (a committed one, bench/models/<name>: left as it is, the re-check -> build/<run>/eval.json;"
	@echo "           an imported run: golden vs its framework's forward pass on graph.nir)"
	@echo "make vectors MODEL=name [N=0 DATASET= DATA_DIR= FORCE=1]   golden vectors for the RTL and HLS checkers"
	@echo "           -> <run>/vectors.npz (a committed one is rewritten only with FORCE=1)"
	@echo "make rtl MODEL=name [LANES=n | FOLD=PExSIMD[/NL][e],... | TARGET=area|fastest|cycles=N] [STEM=cache|recompute] [EVENT=auto|layers|all|none] [PIXEL_LANES=1] [SKIP_ZERO_PIXELS=1|words|lanes] [ROM_LOGIC_DEPTH=64] [CARRY_CELLS=ecp5] [INT8_LANES=logic|dsp]   Amaranth -> Verilog"
	@echo "           LANES=n: exactly n MAC lanes per layer (1..4096), refused where a layer cannot have n; none given:"
	@echo "           at most 16 per layer.  TARGET=cycles=N no folding meets is refused (TARGET=fastest takes the fastest)"
	@echo "make sim MODEL=name [N=0 WAVES=1 COVERAGE=1]   Verilator + cocotb, bit-exact vs golden"
	@echo "make bitstream MODEL=name [DEVICE=25k FREQ=50]"
	@echo "make bitstream MODEL=name BOARD=ulx3s|orangecrab|icebreaker [FREQ=auto LANES= | FOLD= | TARGET= STEM= BAUD=115200]"
	@echo "           builds its own RTL (the accelerator behind the board's UART top), folded by the LANES= / FOLD= /"
	@echo "           TARGET= given as for make rtl (none: the board's lanes), and says which folding"
	@echo "make vivado MODEL=name [BOARD=arty_a7_35t LANES= | FOLD= | TARGET= STEM=]   Vivado project + yosys synth_xilinx estimate"
	@echo "make test-slow                   the tests marked slow (board bitstreams: iCE40, ECP5)"
	@echo "make fuzz [N=300 SEED= JOBS=2 RESUME=1]   random networks x foldings x stimuli: bit-exact, estimate exact"
	@echo "make hls MODEL=name [N=0]        hls4ml projects, C simulation bit-exact vs golden"
	@echo "make hls-synth MODEL=name [PROJECT=network COSIM=0 VSYNTH=0]   Vitis HLS (+ Vivado); needs AMD tools"
	@echo "make report MODEL=name           one self-contained HTML page of the run -> build/<run>/report.html"
	@echo "make results                     docs/results.md + docs/results/*.png from bench/results/*.json (minutes)"
	@echo "make bench                       every benchmark, then docs/results.md (hours; needs chromium)"

# requirements-nodeps.lock: SpikingJelly (make import FRAMEWORK=spikingjelly) without its declared dependencies
# (torchvision, torchaudio, tensorboard, ...: none of them is needed, and a torchvision would pull another torch)
setup: $(STAMP)
$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.lock
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: setup
	$(PY) -m flow demo --epochs $(EPOCHS)

# RESUME=1 passes only the variables given on the command line: the run keeps its own settings.
# NPROC>1 trains data-parallel under torchrun (gloo on CPU, nccl on GPUs).
targ = $(if $(and $(filter 1,$(RESUME)),$(filter file,$(origin $(1)))),,$(2))
TRAIN_ARGS = $(call targ,DATASET,--dataset $(DATASET)) $(call targ,HIDDEN,--hidden $(HIDDEN)) \
	$(call targ,T,--T $(T)) $(call targ,EPOCHS,--epochs $(EPOCHS)) $(call targ,SEED,--seed $(SEED)) \
	$(call targ,MODE,--mode $(MODE)) $(call targ,NEURON,--neuron $(NEURON)) \
	$(if $(PARALLEL),--parallel-ratio $(PARALLEL)) $(if $(SECA),--seca $(SECA)) \
	$(if $(SHORTCUT),--shortcut $(SHORTCUT)) $(if $(HEAD),--head $(HEAD)) \
	$(if $(MEMBRANE_FRAC),--membrane-frac $(MEMBRANE_FRAC)) \
	$(call targ,BATCH,--batch-size $(BATCH)) $(call targ,LR,--lr $(LR)) \
	$(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(ARCH),--arch $(ARCH)) \
	$(if $(filter 1,$(AUGMENT)),--augment) $(if $(CROP_PAD),--crop-pad $(CROP_PAD)) $(if $(filter 1,$(RESUME)),--resume) \
	$(if $(filter 1,$(FORCE)),--force)
TRAIN_PY = $(if $(filter-out 0 1,$(NPROC)),$(VENV)/bin/torchrun --standalone --nproc_per_node=$(NPROC),$(PY))

train: setup
	$(TRAIN_PY) -m flow train $(MODEL) $(TRAIN_ARGS)
	$(PY) -m flow export $(MODEL) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

export: setup
	$(PY) -m flow export $(MODEL) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# A NIR graph (snnTorch, SpikingJelly) -> runs/$(MODEL)/ (docs/nir.md); T only when given (default: the
# graph's metadata T, else 4).
nir: setup
	$(PY) -m flow nir $(MODEL)

import: setup
	$(PY) -m flow import --nir "$(NIR)" --model $(MODEL) --dataset $(DATASET) \
	  $(if $(filter command line environment,$(origin T)),--T $(T)) \
	  $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(DT),--dt $(DT)) $(if $(RESET),--reset $(RESET)) \
	  $(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(FRAMEWORK),--framework $(FRAMEWORK)) $(if $(filter 1,$(FORCE)),--force)

# A committed run (bench/models/<name>): eval re-checks into build/<run>/eval.json, vectors
# rewrites its committed vector file only with FORCE=1.
eval: setup
	$(PY) -m flow eval $(MODEL) $(if $(filter command line,$(origin DATASET)),--dataset $(DATASET)) \
	  $(if $(DATA_DIR),--data-dir $(DATA_DIR))

vectors: setup
	$(PY) -m flow vectors $(MODEL) --n $(N) $(if $(filter command line,$(origin DATASET)),--dataset $(DATASET)) \
	  $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(filter 1,$(FORCE)),--force)

rtl: setup
	$(PY) -m flow rtl $(MODEL) $(if $(filter command line environment,$(origin LANES)),$(if $(LANES),--lanes $(LANES))) $(if $(FOLD),--fold $(FOLD)) $(if $(TARGET),--target $(TARGET)) $(if $(STEM),--stem $(STEM)) $(if $(EVENT),--event $(EVENT)) $(if $(PIXEL_LANES),--pixel-lanes $(PIXEL_LANES)) $(if $(SKIP_ZERO_PIXELS),--skip-zero-pixels $(SKIP_ZERO_PIXELS)) $(if $(ROM_LOGIC_DEPTH),--rom-logic-depth $(ROM_LOGIC_DEPTH)) $(if $(CARRY_CELLS),--carry-cells $(CARRY_CELLS)) $(if $(INT8_LANES),--int8-lanes $(INT8_LANES))

sim: setup
	$(PY) -m flow sim $(MODEL) --n $(N) $(if $(filter 1,$(WAVES)),--waves) $(if $(filter 1,$(COVERAGE)),--coverage)

# With BOARD= the board flow (FREQ defaults to auto there; LANES=16 is the plain default, so
# only a LANES given on the command line overrides the board's own).  The board flow generates
# its own RTL (the accelerator behind the UART top) with the FOLD= / TARGET= / STEM= / LANES=
# given here, as make rtl takes them; without BOARD= it builds build/<run>/rtl as make rtl wrote
# it, and those settings are refused.
BOARD_FOLD_ARGS = $(if $(filter command line,$(origin LANES)),--lanes $(LANES)) $(if $(FOLD),--fold $(FOLD)) \
	$(if $(TARGET),--target $(TARGET)) $(if $(STEM),--stem $(STEM)) $(if $(EVENT),--event $(EVENT))
bitstream: setup
ifeq ($(BOARD),)
	$(PY) -m flow bitstream $(MODEL) --device $(DEVICE) --freq $(FREQ) \
	  $(if $(filter command line,$(origin LANES)),--lanes $(LANES)) $(if $(FOLD),--fold $(FOLD)) \
	  $(if $(TARGET),--target $(TARGET)) $(if $(STEM),--stem $(STEM)) $(if $(EVENT),--event $(EVENT))
else
	$(PY) -m flow bitstream $(MODEL) --board $(BOARD) --baud $(BAUD) \
	  $(if $(filter command line,$(origin FREQ)),--freq $(FREQ)) $(BOARD_FOLD_ARGS)
endif

vivado: setup
	$(PY) -m flow bitstream $(MODEL) --board $(or $(BOARD),arty_a7_35t) --baud $(BAUD) \
	  $(if $(filter command line,$(origin FREQ)),--freq $(FREQ)) $(BOARD_FOLD_ARGS)

hls: setup
	$(PY) -m flow hls $(MODEL) --n $(N)

hls-synth: setup
	$(PY) -m flow hls-synth $(MODEL) --project $(PROJECT) $(if $(filter 1,$(COSIM)),--cosim) $(if $(filter 1,$(VSYNTH)),--vsynth)

report: setup
	OMP_NUM_THREADS=1 $(PY) -m flow report $(MODEL)

results: setup
	OMP_NUM_THREADS=1 $(PY) -m report.results_md

# SpikingJelly and snnTorch (the epoch-time comparison, the NIR benchmark) come with make setup
bench: setup
	OMP_NUM_THREADS=1 $(PY) -m bench.all

test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs -m "not slow" tests

# N random cases (default 300) from SEED (default: a new one, printed); RESUME=1 goes on with
# the same SEED where build/fuzz/results.jsonl stopped
JOBS    ?= 2
FUZZ_N   = $(if $(filter-out 0,$(N)),$(N),300)
fuzz: setup
	OMP_NUM_THREADS=1 $(PY) -m sim.fuzz --cases $(FUZZ_N) --jobs $(JOBS) --out build/fuzz \
	  $(if $(filter command line environment,$(origin SEED)),--seed $(SEED)) $(if $(filter 1,$(RESUME)),--resume)

test-slow: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -rs -m slow tests

clean:
	rm -rf build sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV) runs
