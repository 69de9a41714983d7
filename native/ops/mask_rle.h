// maskRle (mask_rle.cpp): COCO compressed RLE strings (pycocotools' `counts`)
// of bit-packed binary masks, on the host, off the JavaScript thread.
//
// Inputs: 0 masks int32 [n, H, words] in resizeMasks' layout (rows of
//         words = 2 * ceil(W / 64) 32-bit words, least significant bit first,
//         bits past the width zero).
// Attrs:  width W (integer, 64 * (words / 2 - 1) < W <= 32 * words);
//         capacity (integer >= 0): bytes of output 1.
// Outputs: 0 offsets int32 [n + 1]: mask i's string is bytes
//            [offsets[i], offsets[i + 1]) of output 1; offsets[n] is the total,
//            also when it exceeds the capacity;
//          1 chars uint8 [capacity]: the strings, back to back, written only
//            when the total fits (the caller reruns with capacity = total).
//
// The runs are column-major, starting with a run of 0s, as COCO's
// rleEncode reads a Fortran-order mask; the string is maskApi.c's
// rleToString (5-bit groups, differences from the count two before from the
// third on). Each 64 x 64 block of bits is transposed so that a column's runs
// are found a word at a time (count-trailing-zeros over the bits that
// differ from their predecessor); all-zero blocks are not transposed. Masks
// are encoded in parallel on the CPU pool. CPU only (a host serialisation
// step, like pillowResize).
#pragma once

#include <cstdint>
#include <string>

namespace sotr {

// The string of one mask: `rows` points at H rows of `words32` int32 words.
void encodeMaskRle(const int32_t* rows, int64_t H, int64_t W, int64_t words32, std::string& out);

}  // namespace sotr
