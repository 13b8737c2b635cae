"""Residual networks in RTL (rtl_gen/graph.py): the lowering of an integer graph onto the engine
chain, its refusals, the buffers it adds (slots, readers, the look-ahead), and random graphs in
Verilator, bit-exact against the golden graph with the estimate exact (drawn on a seed printed
with each case: full rate, backpressure with a reset mid-image, idle gaps).
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.bundle import BundleError
from golden.graph import load_graph, save_graph, widths
from golden.synthetic import random_graph, random_images
from golden.vectors import load_vectors, write_vectors
from rtl_gen.buffers import EMPTY, FILLING, FULL, RESIDUAL_READ_LATENCY, FrameBuffer, SlotTracker
from rtl_gen.config import CurrentLayerConfig
from rtl_gen.emit import emit
from rtl_gen.estimate import cycles
from rtl_gen.folding import AtMost
from rtl_gen.graph import _from_graph_lanes, from_graph
from sim import fuzz
from sim.accelerator_tb import simulate
from sim.fuzz import exact

FAST_BUILD = "-O0"


def test_the_stems_stream_is_held_per_image_where_that_costs_no_cycles():
    """Held per image, the stem's stream takes two slots of images instead of three of items, at
    the same cycles per inference (the estimate replays both); with one time step there is
    nothing to hold, and a stem whose requantizer changes with the step is written every step."""
    g = random_graph(3, input_shape=(1, 8, 8), stages=((4, 2), (6, 1)), T=4)
    held = from_graph(g, lanes=AtMost(16))
    f = held.layers[0].stream
    assert f.per_image and f.slots == 2
    items = _from_graph_lanes(g, lanes=AtMost(16), folding=None, stem="cache", per_image=False)
    assert not items.layers[0].stream.per_image and items.layers[0].stream.slots == 3
    assert cycles(held)["cycles_per_inference"] == cycles(items)["cycles_per_inference"]
    one = from_graph(random_graph(3, input_shape=(1, 8, 8), stages=((4, 2), (6, 1)), T=1), lanes=AtMost(16))
    assert not one.layers[0].stream.per_image and one.layers[0].stream.slots == 3
    nodes = [replace(n, mult=np.repeat(np.asarray(n.mult)[None], g.T, axis=0),
                     bias=np.repeat(np.asarray(n.bias)[None], g.T, axis=0)) if n.name == "stem" else n
             for n in g.nodes]
    stepped = from_graph(replace(g, nodes=tuple(nodes)), lanes=AtMost(16))
    assert not stepped.layers[0].stream.per_image


def test_a_resnet_lowers_to_engines_current_frames_and_shared_codes():
    """Identity blocks keep their stream in a current frame that skips one engine (three slots;
    the stem's, the same at every step, two slots of images), a strided block's 1 x 1 shortcut is
    a current engine (two slots), its conv and shortcut read one codes buffer (two readers), the
    head sums its codes over space for the readout."""
    g = random_graph(3, input_shape=(1, 8, 8), stages=((4, 2), (6, 1)), T=2)
    cfg = from_graph(g)
    names = [layer.name for layer in cfg.layers]
    assert names[0] == "stem" and set(names) == {"stem", "b0_conv1", "b0_conv2", "b1_conv1", "b1_conv2", "b2_conv1",
                                                 "b2_shortcut", "b2_conv2"}
    by = {layer.name: layer for layer in cfg.layers}
    assert isinstance(by["b2_shortcut"], CurrentLayerConfig) and not by["b2_shortcut"].has_neurons
    frames = {f.source: (f.sink, f.slots, f.per_image) for f in (layer.stream for layer in cfg.layers) if f}
    assert frames == {"stem": ("b0_conv2", 2, True), "b0_conv2": ("b1_conv2", 3, False),
                      "b2_shortcut": ("b2_conv2", 2, False)}
    assert by["b0_conv2"].residual.source == "stem" and by["b2_conv2"].residual.source == "b2_shortcut"
    assert all(layer.membn is None for layer in cfg.layers if layer.has_neurons)
    assert [r.name for r in cfg.readers_of("b1_conv2")] == ["b2_conv1", "b2_shortcut"]
    assert cfg.codes_buffer("b1_conv2") == "b1_conv2_codes" and cfg.codes_buffer("stem") == "b0_conv1_input"
    head = by["b2_conv2"]
    assert head.pool_op == "gsum" and head.out.positions == 1 and cfg.source_of(cfg.readout) == "b2_conv2"
    assert cfg.readout.synapse.channels == 6 and cfg.neuron_nodes["b2_conv2"] == "head"
    # engines sharing a current frame share their neuron lanes
    for layer in cfg.layers:
        if layer.stream:
            assert by[layer.stream.sink].neuron.lanes == layer.stream.lanes
    # every engine comes after the engines it reads
    seen = set()
    for layer in cfg.layers:
        assert layer is cfg.layers[0] or cfg.source_of(layer) in seen
        assert layer.residual is None or layer.residual.source in seen
        seen.add(layer.name)


def test_mem_bn_maps_are_a_second_requantizer_after_the_stream():
    """A Mem-BN neuron's affine map: per step and channel, after the residual add; the stream
    frame holds the unmapped current (what the next add reads)."""
    g = random_graph(4, input_shape=(1, 6, 6), stages=((3, 2),), T=3, membn="all")
    cfg = from_graph(g)
    by = {layer.name: layer for layer in cfg.layers}
    affine = {n.name: n for n in g.nodes if n.kind == "affine"}
    assert by["b0_conv2"].membn is not None and by["b0_conv2"].membn.per_step
    assert np.array_equal(by["b0_conv2"].membn.mult, affine["b1.n1.membn"].mult)
    assert by["b0_conv2"].stream.bits == by["b0_conv2"].membn.acc_bits
    assert by["b0_conv2"].neuron.current_bits == by["b0_conv2"].membn.out_bits


def test_seca_is_a_stage_before_or_after_the_add():
    """SECA_I scales each conv's current (on conv2: before the residual add, done by the neuron
    stage); SECA_II scales the block's sum (the add done first, inside the SECA stage); the
    stream frame holds the attention's output when it is the stream."""
    g1 = random_graph(5, input_shape=(1, 6, 6), stages=((3, 2),), T=2, seca="I")
    by = {layer.name: layer for layer in from_graph(g1).layers}
    assert by["b0_conv1"].seca is not None and by["b0_conv1"].residual is None
    assert by["b0_conv2"].seca.before_add and by["b0_conv2"].residual.source == "stem"
    g2 = random_graph(5, input_shape=(1, 6, 6), stages=((3, 2),), T=2, seca="II")
    by = {layer.name: layer for layer in from_graph(g2).layers}
    assert by["b0_conv1"].seca is None and not by["b0_conv2"].seca.before_add
    w = widths(g2)
    assert by["b0_conv2"].stream.bits == w["b0.seca"]["current_bits"] == by["b0_conv2"].seca.out_bits
    assert by["b1_conv2"].residual.source == "b0_conv2"


@pytest.mark.parametrize("kw, node", [
    (dict(shortcut="stream"), "b1.shortcut"),
    (dict(head="stream"), "gap"),
], ids=["stream_shortcut", "stream_head"])
def test_graph_forms_without_rtl_are_refused_naming_the_node(kw, node):
    g = random_graph(1, input_shape=(1, 6, 6), stages=((3, 1), (4, 1)), T=2, **kw)
    with pytest.raises(BundleError, match=rf"node '{node}'.*not in the RTL generator|node '{node}'.*synapse reads"):
        from_graph(g)


def test_graph_foldings_are_honoured_or_refused():
    g = random_graph(2, input_shape=(1, 6, 6), stages=((4, 1), (6, 1)), T=2)
    cfg = from_graph(g, folding="2x1")
    assert all(str(layer.fold) == "2x1" for layer in cfg.layers) and str(cfg.readout.fold) == "2x1"
    with pytest.raises(ValueError, match="folding 2x2 of engine stem: pe must divide 4, simd be at most 1"):
        from_graph(g, folding="2x2")
    cfg = from_graph(g, lanes=4)                         # exactly 4 lanes everywhere, the readout too
    assert all(layer.fold.lanes == 4 for layer in list(cfg.layers) + [cfg.readout])
    with pytest.raises(ValueError, match="one entry per synaptic engine"):
        from_graph(g, folding=["1x1"] * 2)
    with pytest.raises(ValueError, match=r"lanes=5: engine stem \(1 inputs, 4 outputs\) cannot have exactly 5 MAC lanes"):
        from_graph(g, lanes=5)
    with pytest.raises(ValueError, match="share current frames, so their nl must be equal"):
        from_graph(g, folding={"b1_shortcut": "2x4/2", "b1_conv2": "2x4/1"})


# ---------------------------------------------------------------------------------------------
# Buffers: several slots, several readers, the look-ahead of a residual reader

def _tracker_model(N: int, R: int):
    """A clock-by-clock reference of :class:`SlotTracker`: what it shows, then the update."""
    st = {"state": [EMPTY] * N, "pending": [set() for _ in range(N)], "wa": 0, "wd": 0, "rs": [0] * R}

    def show(ahead: int) -> dict:
        s = st["state"]
        out = {"w_ready": int(s[st["wa"]] == EMPTY), "w_slot": st["wd"],
               "r_full_ahead": int(ahead < N and s[(st["rs"][0] + ahead) % N] == FULL)}
        for r in range(R):
            x = SlotTracker.reader_suffix(r)
            out[f"r_full{x}"] = int(s[st["rs"][r]] == FULL)
            out[f"r_started{x}"] = int(s[st["rs"][r]] != EMPTY)
            out[f"r_slot{x}"] = st["rs"][r]
        return out

    def step(acq: int, done: int, rel: list):
        s, p = st["state"], st["pending"]
        for i in range(N):
            if len(p[i]) == R and s[i] == FULL:
                s[i], p[i] = EMPTY, set()
        if acq:
            s[st["wa"]] = FILLING
            st["wa"] = (st["wa"] + 1) % N
        if done:
            s[st["wd"]] = FULL
            st["wd"] = (st["wd"] + 1) % N
        for r in range(R):
            if rel[r]:
                p[st["rs"][r]].add(r)
                st["rs"][r] = (st["rs"][r] + 1) % N

    return show, step


@pytest.mark.parametrize("N, R", [(2, 1), (3, 1), (2, 2), (4, 2), (3, 3)])
def test_slot_tracker_matches_its_reference_with_several_slots_and_readers(N, R):
    """Random legal traffic (a producer filling slots in turn, readers releasing what they have
    read, early releases, a look-ahead reader 0): every output, every clock, as the reference."""
    seed = 100 * N + R
    print(f"slot tracker N={N} R={R} seed={seed}")
    rng = random.Random(seed)
    dut = SlotTracker(N, R, ahead=True)
    show, step = _tracker_model(N, R)

    async def bench(ctx):
        acquired = done = 0                       # items acquired / completed by the producer
        released = [0] * R                        # items each reader has released
        for clock in range(400):
            ahead = rng.randrange(N + 1)
            ctx.set(dut.r_ahead, ahead)
            want = show(ahead)
            for name, v in want.items():
                assert ctx.get(getattr(dut, name)) == v, (clock, name, want)
            acq = int(want["w_ready"] and rng.random() < 0.5)
            fin = int(done < acquired and rng.random() < 0.4)
            rel = []
            for r in range(R):
                x = SlotTracker.reader_suffix(r)
                can = want[f"r_full{x}"] or (want[f"r_started{x}"] and rng.random() < 0.2)
                rel.append(int(bool(can) and released[r] < acquired and rng.random() < 0.5))
            ctx.set(dut.w_acquire, acq)
            ctx.set(dut.w_done, fin)
            for r in range(R):
                ctx.set(getattr(dut, f"r_release{SlotTracker.reader_suffix(r)}"), rel[r])
            step(acq, fin, rel)
            acquired += acq
            done += fin
            released = [a + b for a, b in zip(released, rel)]
            await ctx.tick()
        assert done > 20 and min(released) > 20            # the traffic went round the slots many times

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("words, lanes, bits, slots", [(700, 2, 15, 3), (2300, 4, 18, 2), (40, 1, 19, 2), (8, 1, 4, 2)])
def test_a_registered_frame_read_returns_each_word_four_clocks_later(words, lanes, bits, slots):
    """A current frame's registered read (banks of block-RAM rows, their outputs registered twice,
    then ORed by groups of four into registers): every word written comes back
    RESIDUAL_READ_LATENCY clocks after its address, whichever bank holds it, while writes go on
    (five and nine block RAM banks: a partial last group of four, one bank, LUT RAM)."""
    L = RESIDUAL_READ_LATENCY
    assert L == 4
    rng = random.Random(words * 31 + bits)
    fb = FrameBuffer(words=words, lanes=lanes, bits=bits, slots=slots, registered_read=True)
    depth, width = slots * words, lanes * bits
    banks = FrameBuffer.banks(depth, width)
    assert sum(banks) == depth and (len(banks) > 1) == (depth * width > 36 * 512)
    data = [rng.getrandbits(width) for _ in range(depth)]

    async def bench(ctx):
        ctx.set(fb.rd_en, 0)                              # no read used while the frame is filled
        for a, v in enumerate(data):
            ctx.set(fb.wr_addr, a)
            ctx.set(fb.wr_data, v)
            ctx.set(fb.wr_en, 1)
            await ctx.tick()
        ctx.set(fb.wr_en, 0)
        ctx.set(fb.rd_en, 1)
        want = []
        for clock in range(300):
            a = rng.randrange(depth)
            ctx.set(fb.rd_addr, a)
            w = rng.randrange(depth)                  # a write elsewhere meanwhile
            if w != a and all(w != p for p, _ in want[-L:]):
                data[w] = rng.getrandbits(width)
                ctx.set(fb.wr_addr, w)
                ctx.set(fb.wr_data, data[w])
                ctx.set(fb.wr_en, 1)
            else:
                ctx.set(fb.wr_en, 0)
            if len(want) >= L:
                addr, value = want[-L]
                assert ctx.get(fb.rd_data) == value, (clock, addr)
            want.append((a, data[a]))
            await ctx.tick()

    sim = Simulator(fb)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("registered_read", [False, True])
@pytest.mark.parametrize("collide", [False, True])
def test_a_frame_read_hitting_the_word_being_written_is_asserted(registered_read, collide):
    """A whole-word frame buffer's memory drops Yosys's read-during-write logic
    (``no_rw_check``), so it asserts that no read its reader uses (``rd_en``) hits the word
    written in the same clock: an idle reader's address on the word being written passes, and
    so does reading one slot while the other is written; a used read of the word being written
    fails, naming the buffer's reader."""
    fb = FrameBuffer(words=4, lanes=2, bits=4, slots=2, registered_read=registered_read)

    async def bench(ctx):
        for k in range(4):                              # slot 0 written, the idle reader's address on it
            ctx.set(fb.wr_addr, k)
            ctx.set(fb.wr_en, 1)
            ctx.set(fb.rd_addr, k)
            ctx.set(fb.rd_en, 0)
            await ctx.tick()
        for k in range(4):                              # slot 1 written while slot 0 is read
            ctx.set(fb.wr_addr, 4 + k)
            ctx.set(fb.rd_addr, 4 + k if collide else k)
            ctx.set(fb.rd_en, 1)
            await ctx.tick()

    sim = Simulator(fb)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if collide:
        with pytest.raises(AssertionError, match="frame buffer reader 0: a read hit the word written"):
            sim.run()
    else:
        sim.run()


# ---------------------------------------------------------------------------------------------
# Random graphs in Verilator

@pytest.mark.parametrize("seed", [7004, 7010])
def test_random_resnets_bit_exact_in_verilator_and_the_estimate_exact(seed, tmp_path):
    """Two fixed cases of the graph fuzz (:func:`sim.fuzz.draw_graph_case`, more in
    ``tests/test_fuzz.py`` and ``make fuzz``): full rate (every unpooled neuron's codes traced,
    scores, class, cycles and latency as estimated) and the drawn stimulus."""
    r = fuzz.run_case(seed, tmp_path, graphs=True)
    print(r["case"], r.get("folding"))
    assert r["ok"], r["problems"]
    assert fuzz.exact(r["measured"]["cycles_per_inference"], r["estimate"]["cycles_per_inference"]), r


def test_a_wrong_residual_is_caught_and_named(tmp_path):
    """The vector file of a graph whose shortcut current is larger in one channel: the RTL built
    from the true graph disagrees at the neurons after the add, and the report names image,
    layer, step and neuron."""
    import dataclasses

    from golden.graph import Graph, run_graph

    g = random_graph(7010, input_shape=(1, 6, 6), stages=((3, 1), (4, 1), (4, 1)), T=2)
    save_graph(g, tmp_path / "model")
    g = load_graph(tmp_path / "model")
    cfg = from_graph(g)
    d = emit(cfg, tmp_path / "rtl")
    nodes = list(g.nodes)
    i = next(k for k, n in enumerate(nodes) if n.name == "b1.shortcut")
    bias = nodes[i].bias.copy()
    bias[0] += (2 << g.neurons[0].frac) << nodes[i].shift         # two thresholds' worth, one channel
    nodes[i] = dataclasses.replace(nodes[i], bias=bias)
    wrong = Graph(name=g.name, T=g.T, input=g.input, spike_bits=g.spike_bits, nodes=tuple(nodes))
    images = random_images(g, 6, seed=1)
    res = run_graph(wrong, images, trace=True)
    vec = load_vectors_like(tmp_path, g, images, res)
    r = simulate(tmp_path / "rtl" / "hdlif_accel.v", "hdlif_accel", vec, tmp_path / "sim",
                 manifest=tmp_path / "rtl" / "interface.json", build_dir=tmp_path / "verilator", cxx_opt=FAST_BUILD,
                 trace=d["trace"])
    assert r["mismatches"] > 0
    assert any(line.startswith("image ") and ", layer b2.n1, time step " in line and ", neuron " in line
               for line in r["mismatch_details"]), r["mismatch_details"][:5]


def load_vectors_like(tmp, g, images, res):
    """A vector file for ``g``'s images holding another graph's results ``res``."""
    from golden.atomic import save_npz_atomic

    path = tmp / "vectors.npz"
    write_vectors(g, tmp / "model", images, np.zeros(len(images), np.int64), path)
    vec = dict(load_vectors(path))
    vec.update(scores=res.scores, classes=res.classes,
               **{f"codes.{k}": v.astype(vec[f"codes.{k}"].dtype) for k, v in res.codes.items()})
    save_npz_atomic(path, **vec)
    return path


def test_a_trained_resnet_with_seca_goes_float_golden_rtl_hls(tmp_path):
    """make train ARCH=resnet:4,8 SECA=II NEURON=membn (Parallel HD-LIF in every block's second
    neuron), export (an integer graph with seca and affine nodes), make hls, make rtl, make sim
    with every traced layer: bit-exact, the estimate exact."""
    import shutil

    from flow import steps
    from flow.paths import build_dir
    from hls.report import run_hls
    from training.export import export
    from training.train import train

    run = tmp_path / "rn"
    train(run, arch="resnet:4,8", T=2, epochs=1, batch_size=32, limit=200, parallel_ratio=0.5, seca="II",
          neuron="membn", progress=False, device="cpu")
    rep = export(run, vectors=30)
    assert rep["agreement"] >= 0.9
    kinds = {n.kind for n in load_config_graph(run).nodes}
    assert {"seca", "affine", "add"} <= kinds
    assert run_hls(run, tmp_path / "hls")["mismatches"] == 0
    try:
        r = steps.rtl(str(run))
        assert r["resources"]["luts"] > 0 and "stem" in r["folding"]
        sim = steps.sim(str(run), n=30, trace=True)
        assert sim["images"] == 30 and sim["mismatches"] == 0 and sim["layers_checked"]
        assert exact(sim["cycles_per_inference"], cycles(load_config(run), images=30)["mean_interval"])
        assert exact(sim["latency_cycles"], sim["estimated_latency"])
    finally:
        shutil.rmtree(build_dir(str(run)), ignore_errors=True)


def load_config_graph(run):
    from golden.graph import load_model

    return load_model(run / "model")


def load_config(run):
    return from_graph(load_config_graph(run))
