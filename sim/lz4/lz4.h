/* A header-only stand-in for the two LZ4 functions Verilator's FST writer calls
 * (include/fstcpp/fstcpp_writer.cpp), for machines without liblz4's headers.
 *
 * LZ4_compress_default writes a valid LZ4 block holding one literal-only sequence: the data is
 * stored, not compressed, and every LZ4 decoder (GTKWave, Surfer, fst2vcd) reads it back.
 * Used only when the testbench builds with waves (sim/accelerator_tb.py adds -I for this folder).
 */
#ifndef HDLIF_LZ4_STUB_H
#define HDLIF_LZ4_STUB_H

#include <string.h>

static inline int LZ4_compressBound(int n) {
    return (n < 0 || n > 0x7E000000) ? 0 : n + n / 255 + 16;
}

static inline int LZ4_compress_default(const char* src, char* dst, int n, int cap) {
    if (n < 0 || cap < LZ4_compressBound(n)) return 0;
    unsigned char* out = (unsigned char*)dst;
    int k = 0;
    if (n < 15) {
        out[k++] = (unsigned char)(n << 4);
    } else {
        out[k++] = 0xF0;
        int rest = n - 15;
        while (rest >= 255) { out[k++] = 255; rest -= 255; }
        out[k++] = (unsigned char)rest;
    }
    memcpy(out + k, src, (size_t)n);
    return k + n;
}

#endif
