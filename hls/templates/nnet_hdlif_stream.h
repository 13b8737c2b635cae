// HD-LIF layers for hls4ml (io_stream): the requantizer and the neuron (HD-LIF, LIF / IF).
//
// The arithmetic is the integer golden model's (golden/executor.py, docs/integer-semantics.md),
// bit for bit, on ap_int types whose widths come from the export step's bound analysis:
//
//   requant:  current   = (acc * mult[t, c] + bias[t, c]) >> shift        (arithmetic: floor)
//   charge:   m         = ((lambda_t * v + 2^(lambda_frac-1)) >> lambda_frac) + current
//
// HD-LIF (neuron = hdlif_graded: vanilla, or Parallel with stateful = false), graded codes:
//   fire:     s*        = max(m - theta_t, 0)
//   P2-reset: v         = min(m, theta_t)
//             spike_code = min((s* + 2^(frac-1)) >> frac, max_code)
//
// LIF / IF (neuron = hdlif_lif), binary spikes (frac and max_code unused; IF is LIF with
// lambda_t = 2^lambda_frac):
//   fire:     spike     = m >= theta_t                                     (1 or 0)
//   reset:    v         = m                  without a spike
//             v         = v_reset            after one, reset = hdlif_reset_value
//             v         = m - theta_t        after one, reset = hdlif_reset_subtract
//
// The readout is a requantizer with shift 0: score_t = acc * mult + bias.
//
// Time: one call of the top function is one time step.  The T rows of an image go in one after
// the other (t = 0 .. T-1); each layer here keeps its step counter (and the neuron its residual
// membrane v) in static state and wraps it after T calls, as hls4ml's own SNN layers do with
// their window.  Per-step parameters are tables indexed [t, c] with t_len in {1, T} and
// c_len in {1, n_chan}: a table of one step or one channel is broadcast.
//
// ap_int's >> on a signed value is an arithmetic shift (sign-extending), which is numpy's
// floor shift on int64; every intermediate is held on a type at least as wide as the bound
// analysis proved necessary, so nothing wraps.

#ifndef NNET_HDLIF_STREAM_H_
#define NNET_HDLIF_STREAM_H_

#include "hls_stream.h"
#include "nnet_common.h"
#include "nnet_types.h"

namespace nnet {

struct hdlif_requant_config {
    static const unsigned n_in = 10;          // values per call (positions x channels)
    static const unsigned n_chan = 10;        // channels: parameters are per channel
    static const unsigned n_steps = 4;        // T
    static const unsigned t_len = 1;          // 1 or T: rows in the mult / bias tables
    static const unsigned shift = 0;
    typedef ap_int<18> mult_t;
    typedef ap_int<32> bias_t;
    typedef ap_int<48> product_t;
};

// What the neuron does after the charge (the config's neuron and reset fields).
enum hdlif_neuron_kind { hdlif_graded = 0, hdlif_lif = 1 };
enum hdlif_reset_kind { hdlif_reset_value = 0, hdlif_reset_subtract = 1 };

struct hdlif_neuron_config {
    static const unsigned n_in = 10;
    static const unsigned n_chan = 10;
    static const unsigned n_steps = 4;
    static const unsigned lambda_t_len = 4;   // 1 or T
    static const unsigned lambda_c_len = 1;   // 1 or n_chan
    static const unsigned theta_t_len = 4;
    static const unsigned theta_c_len = 1;
    static const unsigned lambda_frac = 12;
    static const unsigned frac = 8;
    static const unsigned max_code = 15;
    static const bool stateful = true;        // false: Parallel HD-LIF (lambda = 0, no membrane kept)
    static const unsigned neuron = hdlif_graded;      // hdlif_graded (HD-LIF) or hdlif_lif (LIF / IF)
    static const unsigned reset = hdlif_reset_value;  // LIF: to v_reset, or hdlif_reset_subtract
    static const long long v_reset = 0;               // LIF, reset = hdlif_reset_value: membrane units
    typedef ap_int<14> lambda_t;
    typedef ap_int<32> leak_t;                // lambda_t * v + 2^(lambda_frac-1)
    typedef ap_int<20> membrane_t;            // m, v and theta
    typedef ap_int<21> fire_t;                // m - theta, and s* (+ the rounding half)
};

template <typename CONFIG_T> inline unsigned hdlif_table_index(unsigned t, unsigned c, unsigned t_len, unsigned c_len) {
    #pragma HLS INLINE
    return (t_len > 1 ? t : 0) * c_len + (c_len > 1 ? c : 0);
}

// The channel of element j of the i-th pack: hls4ml packs the last (channel) axis, so a pack
// holds whole pixels and the channel is j mod n_chan.
template <class data_T, typename CONFIG_T> inline unsigned hdlif_channel(unsigned i, unsigned j) {
    #pragma HLS INLINE
    return (data_T::size % CONFIG_T::n_chan == 0) ? j % CONFIG_T::n_chan : (i * data_T::size + j) % CONFIG_T::n_chan;
}

template <typename CONFIG_T> inline void hdlif_advance_step(unsigned &t) {
    #pragma HLS INLINE
    t = (t + 1 == CONFIG_T::n_steps) ? 0 : t + 1;
}

// current = (acc * mult + bias) >> shift, per channel (and per step when t_len == T).
template <class data_T, class res_T, typename CONFIG_T>
void hdlif_requant(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::mult_t mult[CONFIG_T::t_len * CONFIG_T::n_chan],
                   const typename CONFIG_T::bias_t bias[CONFIG_T::t_len * CONFIG_T::n_chan]) {
    #pragma HLS ARRAY_PARTITION variable=mult complete
    #pragma HLS ARRAY_PARTITION variable=bias complete
    static unsigned t = 0;

RequantLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_pack = data.read();
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
    RequantPack:
        for (unsigned j = 0; j < data_T::size; j++) {
            #pragma HLS UNROLL
            const unsigned c = hdlif_channel<data_T, CONFIG_T>(i, j);
            const unsigned k = hdlif_table_index<CONFIG_T>(t, c, CONFIG_T::t_len, CONFIG_T::n_chan);
            typename CONFIG_T::product_t p = in_pack[j] * mult[k] + bias[k];
            out_pack[j] = (typename res_T::value_type)(p >> CONFIG_T::shift);
        }
        res.write(out_pack);
    }
    hdlif_advance_step<CONFIG_T>(t);
}

// The neuron: charge -> fire -> reset on one step's currents.  HD-LIF: P2-reset, graded spike
// codes out; LIF / IF: binary spikes out, reset to v_reset or by subtraction.
template <class data_T, class res_T, typename CONFIG_T>
void hdlif_neuron(hls::stream<data_T> &data, hls::stream<res_T> &res,
                  const typename CONFIG_T::lambda_t lambda[CONFIG_T::lambda_t_len * CONFIG_T::lambda_c_len],
                  const typename CONFIG_T::membrane_t theta[CONFIG_T::theta_t_len * CONFIG_T::theta_c_len]) {
    #pragma HLS ARRAY_PARTITION variable=lambda complete
    #pragma HLS ARRAY_PARTITION variable=theta complete
    // The residual membrane v of every neuron, carried from one step to the next (v = 0 at t = 0),
    // one row per stream pack, the pack's elements side by side.
    static typename CONFIG_T::membrane_t v[CONFIG_T::stateful ? CONFIG_T::n_in / data_T::size : 1][data_T::size];
    #pragma HLS ARRAY_PARTITION variable=v complete dim=2
    static unsigned t = 0;
    const typename CONFIG_T::leak_t half_lambda = typename CONFIG_T::leak_t(1) << (CONFIG_T::lambda_frac - 1);
    const typename CONFIG_T::fire_t half_code = CONFIG_T::frac > 0 ? typename CONFIG_T::fire_t(1) << (CONFIG_T::frac - 1)
                                                                  : typename CONFIG_T::fire_t(0);
    // LIF: the membrane after a spike with reset = hdlif_reset_value (a local copy: no ODR use of
    // the config's member).  The bound analysis puts it on membrane_t whenever a spike can happen.
    const long long v_reset = CONFIG_T::v_reset;

NeuronLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in_pack = data.read();
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
    NeuronPack:
        for (unsigned j = 0; j < data_T::size; j++) {
            #pragma HLS UNROLL
            const unsigned c = hdlif_channel<data_T, CONFIG_T>(i, j);
            const typename CONFIG_T::membrane_t th =
                theta[hdlif_table_index<CONFIG_T>(t, c, CONFIG_T::theta_t_len, CONFIG_T::theta_c_len)];
            // charge: v = 0 at t = 0, where the rounded leak is 0.  The sum is formed at full width
            // (a current alone may lie outside the membrane's range when the leak offsets it).
            typename CONFIG_T::membrane_t m;
            if (CONFIG_T::stateful && t > 0) {
                const typename CONFIG_T::lambda_t lam =
                    lambda[hdlif_table_index<CONFIG_T>(t, c, CONFIG_T::lambda_t_len, CONFIG_T::lambda_c_len)];
                const typename CONFIG_T::leak_t leak = lam * v[i][j] + half_lambda;
                m = in_pack[j] + (leak >> CONFIG_T::lambda_frac);
            } else {
                m = in_pack[j];
            }
            if (CONFIG_T::neuron == hdlif_lif) {
                // LIF / IF fire: a binary spike at m >= theta_t
                const bool spike = !(m < th);
                out_pack[j] = typename res_T::value_type(spike ? 1 : 0);
                // reset: after a spike to v_reset, or by subtraction (m - theta_t, on the membrane's
                // range by the bound analysis); without one the membrane keeps m
                const typename CONFIG_T::membrane_t after =
                    (CONFIG_T::reset == hdlif_reset_subtract)
                        ? typename CONFIG_T::membrane_t(typename CONFIG_T::fire_t(m) - typename CONFIG_T::fire_t(th))
                        : typename CONFIG_T::membrane_t(v_reset);
                if (CONFIG_T::stateful)
                    v[i][j] = spike ? after : m;
            } else {
                // HD-LIF fire: the graded amount above threshold, rounded half up and clamped to a code
                typename CONFIG_T::fire_t s_star = typename CONFIG_T::fire_t(m) - typename CONFIG_T::fire_t(th);
                if (s_star < 0)
                    s_star = 0;
                typename CONFIG_T::fire_t code = (s_star + half_code) >> CONFIG_T::frac;
                out_pack[j] = (code > typename CONFIG_T::fire_t(CONFIG_T::max_code))
                                  ? typename res_T::value_type(CONFIG_T::max_code)
                                  : typename res_T::value_type(code);
                // P2-reset: the membrane lands on theta (the unquantized s* is removed)
                if (CONFIG_T::stateful)
                    v[i][j] = (m < th) ? m : th;
            }
        }
        res.write(out_pack);
    }
    hdlif_advance_step<CONFIG_T>(t);
}

// SECA (golden/graph.py, seca): per call (one step of one image) the whole current map is held,
//   g[c] = sum over positions of x[c]
//   z[c] = sum_j taps[j] * g[c + j - n_taps/2]                (zero outside the channels)
//   i[c] = clamp((z[c] * zmult + 2^(zshift-1)) >> zshift, -R, R-1),   R = n_table / 2
//   out  = (x * table[i[c] + R] + 2^(q-1)) >> q
struct hdlif_seca_config {
    static const unsigned n_in = 10;
    static const unsigned n_chan = 10;
    static const unsigned n_taps = 3;
    static const unsigned n_table = 256;
    static const long long zmult = 1;
    static const unsigned zshift = 0;
    static const unsigned q = 8;
    typedef ap_int<8> tap_t;
    typedef ap_uint<9> table_t;
    typedef ap_int<32> sum_t;        // g and its partial sums
    typedef ap_int<40> z_t;          // z and its partial sums
    typedef ap_int<64> zprod_t;      // z * zmult + the rounding half
    typedef ap_int<48> product_t;    // x * s + the rounding half
};

template <class data_T, class res_T, typename CONFIG_T>
void hdlif_seca(hls::stream<data_T> &data, hls::stream<res_T> &res,
                const typename CONFIG_T::tap_t taps[CONFIG_T::n_taps],
                const typename CONFIG_T::table_t table[CONFIG_T::n_table]) {
    typename data_T::value_type held[CONFIG_T::n_in];
    typename CONFIG_T::sum_t g[CONFIG_T::n_chan];
    typename CONFIG_T::table_t s[CONFIG_T::n_chan];
    const int R = CONFIG_T::n_table / 2;
    const long long zmult = CONFIG_T::zmult;
SecaClear:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++)
        g[c] = 0;
SecaSum:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        data_T in_pack = data.read();
        for (unsigned j = 0; j < data_T::size; j++) {
            held[i * data_T::size + j] = in_pack[j];
            g[hdlif_channel<data_T, CONFIG_T>(i, j)] += in_pack[j];
        }
    }
SecaScale:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
        typename CONFIG_T::z_t z = 0;
        for (unsigned j = 0; j < CONFIG_T::n_taps; j++) {
            const int src = int(c) + int(j) - int(CONFIG_T::n_taps / 2);
            if (src >= 0 && src < int(CONFIG_T::n_chan))
                z += taps[j] * g[src];
        }
        const typename CONFIG_T::zprod_t half = CONFIG_T::zshift > 0 ? typename CONFIG_T::zprod_t(1) << (CONFIG_T::zshift - 1)
                                                                     : typename CONFIG_T::zprod_t(0);
        typename CONFIG_T::zprod_t idx = (typename CONFIG_T::zprod_t(z) * zmult + half) >> CONFIG_T::zshift;
        if (idx < -R)
            idx = -R;
        if (idx > R - 1)
            idx = R - 1;
        s[c] = table[int(idx) + R];
    }
SecaOut:
    for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
        for (unsigned j = 0; j < data_T::size; j++) {
            const typename CONFIG_T::product_t p = typename CONFIG_T::product_t(held[i * data_T::size + j]) *
                                                       s[hdlif_channel<data_T, CONFIG_T>(i, j)] +
                                                   (typename CONFIG_T::product_t(1) << (CONFIG_T::q - 1));
            out_pack[j] = typename res_T::value_type(p >> CONFIG_T::q);
        }
        res.write(out_pack);
    }
}

} // namespace nnet

#endif
