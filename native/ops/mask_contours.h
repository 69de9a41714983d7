// maskContours (mask_contours.cpp): the contours of bit-packed binary masks as
// OpenCV's findContours gives them (Suzuki-Abe border following), on the host,
// off the JavaScript thread.
//
// Inputs: 0 masks int32 [n, H, words] in resizeMasks' layout (rows of
//         words = 2 * ceil(W / 64) 32-bit words, least significant bit first,
//         bits past the width zero).
//         Or, with the `windows` attribute, the masks' windows' bits int32
//         [total] (cropMasks' output, mask_windows.h) and attrs windows and
//         height H: each window traced and its points moved to the image.
// Attrs:  width W (integer, 64 * (words / 2 - 1) < W <= 32 * words);
//         mode 'external' (RETR_EXTERNAL, default) or 'ccomp' (RETR_CCOMP:
//           every component's outer border, each followed by its holes);
//         approx 'simple' (CHAIN_APPROX_SIMPLE, default: only the points where
//           the direction changes) or 'none' (CHAIN_APPROX_NONE: every pixel);
//         capacity (integer >= 0): int32 elements of output 1.
// Outputs: 0 offsets int32 [n + 1]: mask i's contours are elements
//            [offsets[i], offsets[i + 1]) of output 1; offsets[n] is the total,
//            also when it exceeds the capacity;
//          1 data int32 [capacity], per mask: the contour count, then per
//            contour its parent (-1 for an outer border; for a hole, the index
//            of its outer border among the mask's contours), its point count
//            and its points x0, y0, x1, y1, ... (pixel coordinates). Written
//            only when the total fits (the caller reruns with capacity =
//            total).
//
// Equal to cv2.findContours(mask, RETR_EXTERNAL | RETR_CCOMP,
// CHAIN_APPROX_SIMPLE | CHAIN_APPROX_NONE) point for point, in OpenCV's order
// (each mask's borders in reverse order of discovery by the raster scan, the
// holes of an outer border likewise, after it). Each mask is traced within its
// bounding box plus a zero border, as OpenCV traces within a zero-padded copy
// of the image. Masks run in parallel on the CPU pool. CPU only.
#pragma once

#include <cstdint>
#include <vector>

namespace sotr {

enum class ContourMode { External, CComp };

// The contours of one mask (`rows`: H rows of `words32` int32 words), appended
// to `out` in the per-mask layout above.
void traceMaskContours(const int32_t* rows, int64_t H, int64_t W, int64_t words32, ContourMode mode, bool simple,
                       std::vector<int32_t>& out);

}  // namespace sotr
