// The bit-packed mask format shared by dynamic_conv_masks, matrix_nms and the
// TypeScript BitMasks class (ts/masks/bitmasks.ts), and the CPU kernels on it.
//
// Masks [n][H][W] are stored row-major, each image row padded to whole 64-bit
// words (wpr = ceil(W / 64) words per row), least significant bit first: pixel
// (y, x) of mask m is bit (x % 64) of word m*H*wpr + y*wpr + x/64. Padding bits
// are zero. As a tensor the words travel as int32 [n, H, 2*wpr] (little-endian
// halves: 32-bit word 2w is the low half of 64-bit word w).
// Per mask: area (int32), box [x0, y0, x1, y1] in pixels with exclusive ends
// ([0, 0, 0, 0] when empty), soft sum (float32, sum of sigmoid inside the mask).
#pragma once
#include <cmath>
#include <cstdint>

namespace sotr {

class ThreadPool;

namespace bitmask {

inline int64_t wordsPerRow(int64_t width) { return (width + 63) / 64; }

struct Geom {
  int64_t count = 0, height = 0, width = 0, wpr = 0;  // wpr: 64-bit words per row
  int64_t maskWords() const { return height * wpr; }
};

// The float32 sigmoid as PyTorch computes it (rounded at each step).
inline float sigmoid32(float x) { return 1.f / (1.f + std::exp(-x)); }

// The largest float x* with sigmoid32(x*) <= t, so that sigmoid32(x) > t
// exactly when x > x* (NaN: never). t in [0, 1]; t = 1 gives +inf. Computed
// once on the host and shared by the CPU and CUDA kernels, so both binarize a
// logit the same way.
float logitThreshold(float t);

// Packs dense masks (uint8, nonzero = set) [count][H][W] into words [count][H][wpr].
void pack(const uint8_t* src, const Geom& g, uint64_t* dst, ThreadPool* pool);

// Areas and boxes ([x0, y0, x1, y1), zeros when empty) of packed masks.
void stats(const uint64_t* bits, const Geom& g, int32_t* areas, int32_t* boxes, ThreadPool* pool);

// popcount(a & b) over rows [y0, y1) and 64-bit words [w0, w1) of two masks
// with row pitch wpr (a, b point at word 0 of row 0 of each mask).
using RectAndCountFn = int64_t (*)(const uint64_t* a, const uint64_t* b, int64_t wpr, int64_t y0,
                                   int64_t y1, int64_t w0, int64_t w1);
// The kernel for the active SIMD level: AVX-512 VPOPCNTDQ when the level is
// avx512 and the CPU has it, else the popcnt instruction, else a portable one.
RectAndCountFn rectAndCountKernel();
const char* rectAndCountName();

namespace detail {
int64_t rectAndCountPortable(const uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, int64_t, int64_t);
// nullptr when the AVX-512 source was compiled without its flags.
RectAndCountFn rectAndCountAvx512();
// Packs one row of W bytes into wpr words (AVX-512 BW); nullptr when absent.
using PackRowFn = void (*)(const uint8_t* src, int64_t W, uint64_t* dst, int64_t wpr);
PackRowFn packRowAvx512();
PackRowFn packRowAvx2();  // bitmask_avx2.cpp; nullptr when built without AVX2
}  // namespace detail

}  // namespace bitmask
}  // namespace sotr
