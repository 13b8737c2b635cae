"""HD-LIF and LIF in hls4ml through its extension API: custom layers, their templates and C++ header.

hls4ml knows nothing of HD-LIF.  Following its own SNN support (a layer class, a config and a
function-call template, a ``nnet_*`` header), this module adds

``HDLIFRequant``
    ``current = (acc * mult[t, c] + bias[t, c]) >> shift`` after an hls4ml ``Dense`` /
    ``Conv2D`` synapse; with ``shift = 0`` it is also the readout,
    ``score_t = acc * mult + bias``.
``HDLIFNeuron``
    charge -> fire -> reset: currents in, spikes out.  ``neuron = "hdlif"``: vanilla or Parallel
    HD-LIF (P2-reset), graded spike codes ``0 .. max_code`` out.  ``neuron = "lif"``: LIF / IF,
    binary spikes (``m >= theta_t``) out; after a spike the membrane goes to ``v_reset``
    (``reset = "value"``) or to ``m - theta_t`` (``reset = "subtract"``), otherwise it keeps ``m``.
    IF is LIF with ``lambda_t = 2**lambda_frac``; nothing in the layer distinguishes it.
``HDLIFSeca``
    SECA on a current map (an integer graph's ``seca`` node): the whole map is held, its channel
    sums give one scale per channel from the taps and the sigmoid table, then it streams out scaled.

Both stream (``io_stream``), one call of the top function per time step; the step counter and
the residual membrane live in static state and wrap after ``T`` calls (see the header
``templates/nnet_hdlif_stream.h`` for the arithmetic).  Parameter tables are
``[t_len, c_len]`` with ``t_len`` in ``{1, T}`` and ``c_len`` in ``{1, channels}``.

:func:`register` installs everything on the Vitis backend; it is idempotent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER = Path(__file__).resolve().parent / "templates" / "nnet_hdlif_stream.h"
INCLUDE = ["nnet_utils/nnet_hdlif_stream.h"]
BACKEND = "Vitis"
#: ``HDLIFNeuron`` kinds: HD-LIF (vanilla / Parallel, graded codes) and LIF / IF (binary spikes)
NEURONS = ("hdlif", "lif")
#: LIF resets after a spike: to ``v_reset``, or by subtracting ``theta_t``
RESETS = ("value", "subtract")

_registered = False


def _int_type(bits: int, signed: bool = True):
    from hls4ml.model.types import IntegerPrecisionType

    return IntegerPrecisionType(width=int(bits), signed=signed)


def _table_shape(data: np.ndarray) -> tuple[int, int]:
    if data.ndim != 2:
        raise ValueError(f"parameter tables must be 2-D [t_len, c_len], not {list(data.shape)}")
    return int(data.shape[0]), int(data.shape[1])


def _layer_classes():
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import NamedType

    class HDLIFRequant(Layer):
        """``current = (acc * mult + bias) >> shift`` (floor), per channel and optionally per step.

        Attributes: ``n_chan``, ``n_steps`` (T), ``shift``, ``mult_data`` / ``bias_data``
        (int64 ``[t_len, n_chan]``), ``mult_bits``, ``bias_bits``, ``product_bits``,
        ``result_bits`` (the current, or the score for the readout).
        """

        def initialize(self):
            shape = list(self.get_input_variable().shape)
            self.add_output_variable(shape, precision=_int_type(self.get_attr("result_bits")))
            mult = np.asarray(self.get_attr("mult_data"), np.int64)
            bias = np.asarray(self.get_attr("bias_data"), np.int64)
            if mult.shape != bias.shape or mult.shape[1] != self.get_attr("n_chan"):
                raise ValueError(f"{self.name}: mult {list(mult.shape)} and bias {list(bias.shape)} "
                                 f"must both be [t_len, {self.get_attr('n_chan')}]")
            self.set_attr("t_len", _table_shape(mult)[0])
            self.add_weights_variable(name="mult", var_name="mult{index}", data=mult.reshape(-1),
                                      precision=_int_type(self.get_attr("mult_bits")))
            self.add_weights_variable(name="bias", var_name="bias{index}", data=bias.reshape(-1),
                                      precision=_int_type(self.get_attr("bias_bits")))
            self.set_attr("product_t", NamedType(f"layer{self.index}_product_t",
                                                 _int_type(self.get_attr("product_bits"))))

    class HDLIFNeuron(Layer):
        """Vanilla / Parallel HD-LIF or LIF / IF: integer currents in, spike codes out.

        Attributes: ``n_chan``, ``n_steps``, ``lambda_frac``, ``frac``, ``max_code``,
        ``spike_bits``, ``stateful`` (False: Parallel HD-LIF), ``lambda_data`` / ``theta_data``
        (int64 ``[t_len, c_len]``), ``lambda_bits``, ``leak_bits``, ``membrane_bits``;
        optional ``neuron`` (``"hdlif"``, the default: codes ``0 .. max_code``, P2-reset; or
        ``"lif"``: binary spikes, ``max_code = 1``, ``frac`` unused), and for LIF ``reset``
        (``"value"`` or ``"subtract"``) and ``v_reset`` (an int, membrane units, used by
        ``reset = "value"``).  ``membrane_bits`` covers ``m``, ``theta`` and every residual
        ``v`` (for LIF also ``v_reset`` and ``m - theta``, when a spike can happen).
        """

        def initialize(self):
            shape = list(self.get_input_variable().shape)
            self.add_output_variable(shape, precision=_int_type(self.get_attr("spike_bits"), signed=False))
            neuron = self.get_attr("neuron", "hdlif")
            if neuron not in NEURONS:
                raise ValueError(f"{self.name}: neuron {neuron!r} is not one of {NEURONS}")
            if neuron == "lif":
                if self.get_attr("reset") not in RESETS:
                    raise ValueError(f"{self.name}: reset {self.get_attr('reset')!r} is not one of {RESETS}")
                if self.get_attr("max_code") != 1 or not self.get_attr("stateful"):
                    raise ValueError(f"{self.name}: a LIF neuron is stateful and fires binary spikes (max_code 1)")
                self.set_attr("v_reset", int(self.get_attr("v_reset", 0)))
            lam = np.asarray(self.get_attr("lambda_data"), np.int64)
            theta = np.asarray(self.get_attr("theta_data"), np.int64)
            self.set_attr("lambda_t_len", _table_shape(lam)[0])
            self.set_attr("lambda_c_len", _table_shape(lam)[1])
            self.set_attr("theta_t_len", _table_shape(theta)[0])
            self.set_attr("theta_c_len", _table_shape(theta)[1])
            self.add_weights_variable(name="lambda", var_name="lambda{index}", data=lam.reshape(-1),
                                      precision=_int_type(self.get_attr("lambda_bits")))
            membrane = _int_type(self.get_attr("membrane_bits"))
            self.add_weights_variable(name="theta", var_name="theta{index}", data=theta.reshape(-1),
                                      precision=membrane)
            idx = self.index
            self.set_attr("membrane_t", NamedType(f"layer{idx}_membrane_t", membrane))
            # lambda_t * v + 2**(lambda_frac - 1): one bit over the product's range
            self.set_attr("leak_t", NamedType(f"layer{idx}_leak_t", _int_type(self.get_attr("leak_bits") + 1)))
            # m - theta, then + 2**(frac - 1): two bits over the membrane
            self.set_attr("fire_t", NamedType(f"layer{idx}_fire_t", _int_type(self.get_attr("membrane_bits") + 2)))

    class HDLIFSeca(Layer):
        """SECA on a current map (``golden.graph.seca``): per image and channel the sum over space,
        ``k`` integer taps across channels, a sigmoid table, ``(x * s + 2**(q - 1)) >> q``.

        Attributes: ``n_chan``, ``taps_data`` (int64 ``[k]``), ``table_data`` (int64 ``[2R]``),
        ``zmult``, ``zshift``, ``q``, ``tap_bits``, ``table_bits``, ``sum_bits``, ``z_bits``,
        ``z_product_bits``, ``product_bits``, ``result_bits``.
        """

        def initialize(self):
            shape = list(self.get_input_variable().shape)
            self.add_output_variable(shape, precision=_int_type(self.get_attr("result_bits")))
            taps = np.asarray(self.get_attr("taps_data"), np.int64)
            table = np.asarray(self.get_attr("table_data"), np.int64)
            self.set_attr("n_taps", len(taps))
            self.set_attr("n_table", len(table))
            self.add_weights_variable(name="taps", var_name="taps{index}", data=taps,
                                      precision=_int_type(self.get_attr("tap_bits")))
            self.add_weights_variable(name="table", var_name="table{index}", data=table,
                                      precision=_int_type(self.get_attr("table_bits"), signed=False))
            idx = self.index
            for key, bits in (("sum_t", "sum_bits"), ("z_t", "z_bits"), ("zprod_t", "z_product_bits"),
                              ("product_t", "product_bits")):
                # one bit over each range for the rounding half added to it
                self.set_attr(key, NamedType(f"layer{idx}_{key}", _int_type(self.get_attr(bits) + 1)))

    return HDLIFRequant, HDLIFNeuron, HDLIFSeca


def _templates(HDLIFRequant, HDLIFNeuron, HDLIFSeca):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    requant_config = """struct config{index} : nnet::hdlif_requant_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_steps = {n_steps};
    static const unsigned t_len = {t_len};
    static const unsigned shift = {shift};
    typedef {mult_type} mult_t;
    typedef {bias_type} bias_t;
    typedef {product_t.name} product_t;
}};\n"""

    neuron_config = """struct config{index} : nnet::hdlif_neuron_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_steps = {n_steps};
    static const unsigned lambda_t_len = {lambda_t_len};
    static const unsigned lambda_c_len = {lambda_c_len};
    static const unsigned theta_t_len = {theta_t_len};
    static const unsigned theta_c_len = {theta_c_len};
    static const unsigned lambda_frac = {lambda_frac};
    static const unsigned frac = {frac};
    static const unsigned max_code = {max_code};
    static const bool stateful = {stateful};
{lif_fields}    typedef {lambda_type} lambda_t;
    typedef {leak_t.name} leak_t;
    typedef {membrane_t.name} membrane_t;
    typedef {fire_t.name} fire_t;
}};\n"""

    lif_fields = """    static const unsigned neuron = nnet::hdlif_lif;
    static const unsigned reset = {reset_kind};
    static const long long v_reset = {v_reset}LL;
"""

    class HDLIFRequantConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(HDLIFRequant)
            self.template = requant_config

        def format(self, node):
            params = self._default_config_params(node)
            params["n_in"] = node.get_input_variable().size_cpp()
            params["mult_type"] = node.get_weights("mult").type.name
            params["bias_type"] = node.get_weights("bias").type.name
            return self.template.format(**params)

    class HDLIFRequantFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(HDLIFRequant, include_header=INCLUDE)
            self.template = "nnet::hdlif_requant<{input_t}, {output_t}, {config}>({input}, {output}, {mult}, {bias});"

        def format(self, node):
            params = self._default_function_params(node)
            params["mult"] = node.get_weights("mult").name
            params["bias"] = node.get_weights("bias").name
            return self.template.format(**params)

    class HDLIFNeuronConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(HDLIFNeuron)
            self.template = neuron_config

        def format(self, node):
            params = self._default_config_params(node)
            params["n_in"] = node.get_input_variable().size_cpp()
            params["lambda_type"] = node.get_weights("lambda").type.name
            params["reset_kind"] = "nnet::hdlif_reset_subtract" if node.get_attr("reset") == "subtract" \
                else "nnet::hdlif_reset_value"
            # LIF overrides the header's neuron / reset / v_reset; HD-LIF keeps its defaults (its
            # config struct reads exactly as before LIF existed)
            params["lif_fields"] = lif_fields.format(**params) if node.get_attr("neuron", "hdlif") == "lif" else ""
            return self.template.format(**params)

    class HDLIFNeuronFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(HDLIFNeuron, include_header=INCLUDE)
            self.template = "nnet::hdlif_neuron<{input_t}, {output_t}, {config}>({input}, {output}, {lam}, {theta});"

        def format(self, node):
            params = self._default_function_params(node)
            params["lam"] = node.get_weights("lambda").name
            params["theta"] = node.get_weights("theta").name
            return self.template.format(**params)

    seca_config = """struct config{index} : nnet::hdlif_seca_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_taps = {n_taps};
    static const unsigned n_table = {n_table};
    static const long long zmult = {zmult}LL;
    static const unsigned zshift = {zshift};
    static const unsigned q = {q};
    typedef {taps_type} tap_t;
    typedef {table_type} table_t;
    typedef {sum_t.name} sum_t;
    typedef {z_t.name} z_t;
    typedef {zprod_t.name} zprod_t;
    typedef {product_t.name} product_t;
}};\n"""

    class HDLIFSecaConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(HDLIFSeca)
            self.template = seca_config

        def format(self, node):
            params = self._default_config_params(node)
            params["n_in"] = node.get_input_variable().size_cpp()
            params["taps_type"] = node.get_weights("taps").type.name
            params["table_type"] = node.get_weights("table").type.name
            return self.template.format(**params)

    class HDLIFSecaFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(HDLIFSeca, include_header=INCLUDE)
            self.template = "nnet::hdlif_seca<{input_t}, {output_t}, {config}>({input}, {output}, {taps}, {table});"

        def format(self, node):
            params = self._default_function_params(node)
            params["taps"] = node.get_weights("taps").name
            params["table"] = node.get_weights("table").name
            return self.template.format(**params)

    return (HDLIFRequantConfigTemplate, HDLIFRequantFunctionTemplate,
            HDLIFNeuronConfigTemplate, HDLIFNeuronFunctionTemplate,
            HDLIFSecaConfigTemplate, HDLIFSecaFunctionTemplate)


def register() -> None:
    """Register the HD-LIF layers, templates and header with hls4ml (once per process)."""
    global _registered
    if _registered:
        return
    import hls4ml
    from hls4ml.model.layers import register_layer

    requant, neuron, seca = _layer_classes()
    register_layer("HDLIFRequant", requant)
    register_layer("HDLIFNeuron", neuron)
    register_layer("HDLIFSeca", seca)
    backend = hls4ml.backends.get_backend(BACKEND)
    for template in _templates(requant, neuron, seca):
        backend.register_template(template)
    backend.register_source(HEADER)
    _registered = True
