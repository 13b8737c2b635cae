"""NIR graphs (snnTorch, SpikingJelly) into integer bundles: ``make import NIR=graph.nir MODEL=name``.

A NIR graph (``nir.read``) is a chain ``Input -> synapse -> neuron -> ... -> Output``; each
synapse (``Affine`` / ``Linear`` / ``Conv2d``) with the neuron node after it (``LIF``, ``IF``,
``CubaLIF`` with ``tau_syn = dt``) becomes one LIF layer of the integer model (``neuron = "lif"``,
binary spikes), and the end becomes a readout: the last neuron layer's spike count when it has
one neuron per class (``readout_fc`` mode ``count``), or the scores of a final ``Affine`` /
``Linear`` (mode ``score``).  The conventions, in the order they are applied:

* **Structure** (:mod:`nir_io.graph`, :mod:`nir_io.layers`): nested graphs are inlined; only
  chains (no branches, no cycles); ``Flatten`` to one dimension (C, H, W order); two synapses in a
  row are multiplied out; ``SumPool2d`` / ``AvgPool2d`` are folded into the adjacent synapse where
  that is exact.  Any other node is refused in one line naming it, its type and what is supported.
* **Time** (:mod:`nir_io.discretize`): NIR's neurons are ODEs; they are discretised as the
  source framework (``FRAMEWORK=snntorch``, the default, or ``spikingjelly``) does on its own
  import: forward Euler with step ``dt``, ``beta = 1 - dt / tau``, input gain ``r dt / tau``,
  snnTorch's strict fire ``v > threshold`` or SpikingJelly's ``v >= threshold``.  ``dt`` is
  ``DT=``, else the graph's ``metadata["dt"]``, else inferred where the graph determines it
  (``r = tau / dt`` in every neuron), else refused.  ``T`` is ``T=``, else ``metadata["T"]``, else 4.
* **Input**: direct encoding, as every network of this project: the float network sees
  ``pixel / input_max`` at each of ``T`` steps; the scale is folded into the first layer.
* **Reset**: NIR's ``v_reset`` is a reset to a value (``reset = "value"``); snnTorch's
  subtraction, which NIR cannot record, is ``RESET=subtract`` (or a node's ``metadata`` saying
  ``reset: subtract``).  Both reset in the step that fires (snnTorch's ``reset_delay=False``; its
  default ``reset_delay=True`` is a different neuron).
* **Pooling**: ``SumPool2d`` 2x2 into a neuron firing on one spike of the window is the integer
  model's 2x2 max pool (``pool = 2``).
* **Integers** (:mod:`nir_io.quantize`): 8-bit (or ternary, ``WEIGHTS=ternary``) weights per output
  channel; the membrane unit ``threshold / 2**K`` per channel, so every threshold is the integer
  ``2**K`` (+1 for a strict fire); weight scales, gains and thresholds folded into ``mult`` /
  ``bias``; the leak on 14 fraction bits; ``K`` calibrated on the training split.
* **Agreement** (:mod:`nir_io.reference`, :mod:`nir_io.importer`): the golden model against the
  framework's own forward pass on the test split -> ``runs/<name>/eval.json``.

``docs/nir.md`` has the whole story, with what is refused and why.
"""

from .discretize import FRAMEWORKS, RESETS
from .graph import NIRImportError
from .importer import evaluate, import_graph, is_imported, make_vectors
from .quantize import WEIGHT_KINDS

__all__ = ["FRAMEWORKS", "NIRImportError", "RESETS", "WEIGHT_KINDS", "evaluate", "import_graph", "is_imported",
           "make_vectors"]
