// cropMasks and placeMasks (mask_windows.cpp): the bits of bit-packed masks within their windows, and back; on
// the host, off the JavaScript thread. The pair lets a `Mask` keep only its window: 100 object masks of a
// 12-megapixel photo are 144 MB as whole images and 27 MB as windows (benchmarks/RESULTS.md, twelfth session).
//
// A mask's window is a block of its rows (resizeMasks' layout: rows of words = 2 * ceil(W / 64) int32 words,
// least significant bit first, bits past the width zero) that holds all its set bits, whole 64-bit words wide:
// rows [y, y + rows), 64-bit words [word, word + words) of each row. Window bits are rows of 2 * words int32
// words, back to back, the windows of the masks one after the other.
//
// Attrs (both ops): windows, 4 integers a mask: y, rows, word, words (rows = 0 or words = 0: an empty window);
//                   width W.
// cropMasks:  input 0 masks int32 [n, H, 2 * ceil(W / 64)]; output 0 int32 [sum of rows * 2 * words], the windows'
//             bits. Bits outside the windows are not read: the caller makes windows that hold every set bit.
// placeMasks: input 0 the windows' bits int32 [sum of rows * 2 * words]; attr height H; output 0 int32
//             [n, H, 2 * ceil(W / 64)]: the masks, zero outside their windows.
// Masks are copied in parallel on the CPU pool. CPU only (host post-processing, like maskRle).
// (MaskWindow and the windows attribute's reader are in packed_masks.h: maskContours also reads masks as windows.)
#pragma once
