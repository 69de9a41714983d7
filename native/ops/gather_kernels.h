// gatherKernels (gather_kernels.cpp): the dynamic kernels of SOTR's candidates
// (sotr-architecture.md §10 step 4's inputs) on the host, off the JavaScript
// thread.
//
// Inputs: 0 cells int32 [n]: global cell indices (levels concatenated, as
//           selectCandidates gives them), each in [0, sum N_l^2)
//         1.. the kernel maps of each level, float32 [D, N_l, N_l] or
//           [1, D, N_l, N_l] (1..8 levels, one D)
// Output: float32 [n, D]: row i = the D kernel values at cell cells[i].
// A cell out of range is a Range error (found when the op runs). CPU only.
#pragma once

#include "ops/registry.h"
