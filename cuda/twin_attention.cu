// CUDA twinAttention: projections and output projection on the shared GEMM
// core, a fused per-sequence attention kernel in between (twin_attention.cuh).
// Launches only on ctx.stream; never synchronizes.
#include "cuda/twin_attention.cuh"

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "ops/twin_attention.h"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {
namespace {

constexpr int kThreads = 128;  // 4 warps
constexpr int DC = 32;         // head channels per chunk
constexpr int DCP = DC + 4;    // padded row of the Q / K tiles (conflict-free float4 reads)
constexpr int QBMAX = 64;      // query rows per CTA
constexpr int KCMAX = 128;     // keys per score / P·V chunk

// Shared memory (floats): Qs [QBMAX][DCP], Ks [kcap][DCP], Vs [kcap][DC], rs [QBMAX], S [qb][SL].
__host__ __device__ constexpr int fixed_floats(int kcap) { return QBMAX * DCP + kcap * DCP + kcap * DC + QBMAX; }

__device__ __forceinline__ int round_up_i(int a, int b) { return (a + b - 1) / b * b; }

// Copies rows [0, nrows) x channels [e0, e0 + DC) of a token-major matrix
// (row stride tok) into dst (row stride ld), zeros for rows >= valid or
// channels >= d. vec: 16-byte aligned rows (d, C, tok multiples of 4); then
// all of a thread's loads (at most MAXIT) are issued before its stores, so a
// tile costs one memory latency.
template <int MAXIT>
__device__ __forceinline__ void load_tile(float* dst, int ld, const float* src, int64_t tok, int nrows, int valid,
                                          int e0, int d, bool vec, int tid) {
  if (vec) {
    constexpr int Q = DC / 4;  // float4 per row
    float4 v[MAXIT];
#pragma unroll
    for (int i = 0; i < MAXIT; ++i) {
      const int idx = tid + i * kThreads, r = idx / Q, c = (idx % Q) * 4;
      v[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (r < valid && r < nrows && e0 + c < d) v[i] = __ldg(reinterpret_cast<const float4*>(src + r * tok + e0 + c));
    }
#pragma unroll
    for (int i = 0; i < MAXIT; ++i) {
      const int idx = tid + i * kThreads, r = idx / Q, c = (idx % Q) * 4;
      if (r < nrows) *reinterpret_cast<float4*>(dst + r * ld + c) = v[i];
    }
  } else {
    for (int idx = tid; idx < nrows * DC; idx += kThreads) {
      const int r = idx / DC, c = idx % DC;
      dst[r * ld + c] = (r < valid && e0 + c < d) ? src[r * tok + e0 + c] : 0.f;
    }
  }
}
constexpr int kItQ = QBMAX * DC / 4 / kThreads;  // 4
constexpr int kItK = KCMAX * DC / 4 / kThreads;  // 8

__device__ __forceinline__ float dot4(const float4& a, const float4& b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

extern __shared__ float4 twin_smem[];

// One CTA: direction di, image b, sequence s, head, query rows [i0, i0 + rows).
__global__ void __launch_bounds__(kThreads, 4) twin_attn_kernel(const TwinAttnParams p, const int kcap) {
  float* Qs = reinterpret_cast<float*>(twin_smem);
  float* Ks = Qs + QBMAX * DCP;
  float* Vs = Ks + kcap * DCP;
  float* rs = Vs + kcap * DC;  // gate / row sum
  float* S = rs + QBMAX;     // [qb][SL]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  if (blockIdx.x == 0 && p.nbias > 0)
    for (int c = tid; c < p.C; c += kThreads) {
      float v = p.biasGate[0] * p.bias[0][c];
      if (p.nbias > 1) v += p.biasGate[1] * p.bias[1][c];
      p.biasOut[c] = v;
    }

  int64_t id = blockIdx.x;
  const int di = (p.ndir > 1 && id >= p.dir[0].ctas) ? 1 : 0;
  if (di) id -= p.dir[0].ctas;
  const TwinAttnDir D = di ? p.dir[1] : p.dir[0];
  const int qblk = static_cast<int>(id % D.nqb);
  id /= D.nqb;
  const int head = static_cast<int>(id % p.heads);
  id /= p.heads;
  const int s = static_cast<int>(id % D.nseq);
  const int b = static_cast<int>(id / D.nseq);
  const int L = D.L, SL = round_up_i(L, 32), d = p.d, C = p.C;
  const int i0 = qblk * D.qb;
  const int rows = min(D.qb, L - i0);
  const int rq = (rows + 3) / 4;  // row quads
  const bool vec = p.vec != 0;
  const int64_t tok = D.inTok;
  const float* base = D.q + b * D.inImg + s * D.inSeq + head * d;
  const float* Qg = base + static_cast<int64_t>(i0) * tok;
  const float* Kg = base + C;
  const float* Vg = base + 2 * C;
  // Common case (SOTR: L <= 128, d = 32): Q, K and V of the block fit at once
  // and are loaded together, one memory latency for the whole CTA.
  const bool single = L <= kcap && d <= DC;
  if (single) {
    load_tile<kItQ>(Qs, DCP, Qg, tok, rq * 4, rows, 0, d, vec, tid);
    load_tile<kItK>(Ks, DCP, Kg, tok, round_up_i(L, 32), L, 0, d, vec, tid);
    load_tile<kItK>(Vs, DC, Vg, tok, round_up_i(L, 4), L, 0, d, vec, tid);
    __syncthreads();
  }

  // ---- 1. scores S = Q K^T (unscaled). A thread tile is 4 query rows x 4 keys
  // {kb*32 + tj + 8c}: the 8 lanes of a quarter warp read 8 consecutive K rows
  // (conflict-free) and one Q row quad (broadcast). Channel chunks after the
  // first add into S (each S element belongs to one thread).
  for (int kc = 0; kc < L; kc += kcap) {
    const int klen = min(kcap, L - kc), nkb = (klen + 31) / 32;
    const int ntiles = rq * nkb * 8;
    for (int e0 = 0; e0 < d; e0 += DC) {
      if (!single) {
        load_tile<kItQ>(Qs, DCP, Qg, tok, rq * 4, rows, e0, d, vec, tid);
        load_tile<kItK>(Ks, DCP, Kg + static_cast<int64_t>(kc) * tok, tok, nkb * 32, klen, e0, d, vec, tid);
        __syncthreads();
      }
      const int e4 = round_up_i(min(DC, d - e0), 4);
      for (int tile = tid; tile < ntiles; tile += kThreads) {
        const int tj = tile & 7, kb = (tile >> 3) % nkb, ti = (tile >> 3) / nkb;
        const float* q = Qs + ti * 4 * DCP;
        const float* k = Ks + (kb * 32 + tj) * DCP;
        float acc[4][4];
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[r][c] = 0.f;
#pragma unroll 2
        for (int e = 0; e < e4; e += 4) {
          float4 qv[4], kv[4];
#pragma unroll
          for (int r = 0; r < 4; ++r) qv[r] = *reinterpret_cast<const float4*>(q + r * DCP + e);
#pragma unroll
          for (int c = 0; c < 4; ++c) kv[c] = *reinterpret_cast<const float4*>(k + c * 8 * DCP + e);
#pragma unroll
          for (int r = 0; r < 4; ++r)
#pragma unroll
            for (int c = 0; c < 4; ++c) acc[r][c] = dot4(qv[r], kv[c], acc[r][c]);
        }
        float* srow = S + ti * 4 * SL + kc + kb * 32 + tj;
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            float* sp = srow + r * SL + 8 * c;
            *sp = e0 == 0 ? acc[r][c] : *sp + acc[r][c];
          }
      }
      if (!single) __syncthreads();
    }
  }
  __syncthreads();  // S complete

  // ---- 2. softmax numerators in place (zeros for keys >= L), rs = gate / sum.
  for (int r = warp; r < rows; r += 4) {
    float* Sr = S + r * SL;
    float mx = -INFINITY;
    for (int j = lane; j < L; j += 32) mx = fmaxf(mx, Sr[j]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    float sum = 0.f;
    for (int j = lane; j < SL; j += 32) {
      const float e = j < L ? expf((Sr[j] - mx) * p.scale) : 0.f;
      Sr[j] = e;
      sum += e;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) rs[r] = D.gate / sum;
  }
  __syncthreads();

  // ---- 3. O = P V: thread tile 4 rows x 4 channels, key chunks of kcap.
  const int tj = tid & 7, ti = tid >> 3;
  const bool active = ti < rq;
  float* Og = D.o + b * D.outImg + s * D.outSeq + static_cast<int64_t>(i0) * D.outTok + head * d;
  for (int e0 = 0; e0 < d; e0 += DC) {
    float acc[4][4];
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[r][c] = 0.f;
    for (int jc = 0; jc < L; jc += kcap) {
      const int jl4 = round_up_i(min(kcap, L - jc), 4);
      if (!single) {
        load_tile<kItK>(Vs, DC, Vg + static_cast<int64_t>(jc) * tok, tok, jl4, L - jc, e0, d, vec, tid);
        __syncthreads();
      }
      if (active) {
        const float* P = S + ti * 4 * SL + jc;
        for (int jj = 0; jj < jl4; jj += 4) {
          float pa[4][4];  // P[row ti*4 + r][key jc + jj + k]
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float4 v = *reinterpret_cast<const float4*>(P + r * SL + jj);
            pa[r][0] = v.x;
            pa[r][1] = v.y;
            pa[r][2] = v.z;
            pa[r][3] = v.w;
          }
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            const float4 vv = *reinterpret_cast<const float4*>(Vs + (jj + k) * DC + tj * 4);
#pragma unroll
            for (int r = 0; r < 4; ++r) {
              acc[r][0] = fmaf(pa[r][k], vv.x, acc[r][0]);
              acc[r][1] = fmaf(pa[r][k], vv.y, acc[r][1]);
              acc[r][2] = fmaf(pa[r][k], vv.z, acc[r][2]);
              acc[r][3] = fmaf(pa[r][k], vv.w, acc[r][3]);
            }
          }
        }
      }
      if (!single) __syncthreads();
    }
    if (active) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int row = ti * 4 + r;
        if (row < rows) {
          const float g = rs[row];
          float* orow = Og + static_cast<int64_t>(row) * D.outTok + e0 + tj * 4;
          const int ne = d - e0 - tj * 4;
          if (vec && ne >= 4 && (D.outTok % 4) == 0) {
            *reinterpret_cast<float4*>(orow) = make_float4(acc[r][0] * g, acc[r][1] * g, acc[r][2] * g, acc[r][3] * g);
          } else {
#pragma unroll
            for (int c = 0; c < 4; ++c)
              if (c < ne) orow[c] = acc[r][c] * g;
          }
        }
      }
    }
  }
}

}  // namespace

void twin_attention_core(TwinAttnParams p, cudaStream_t stream) {
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  int maxOptin = 0;
  SOTR_CUDA_CHECK(cudaDeviceGetAttribute(&maxOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  int Lmax = 1;
  for (int k = 0; k < p.ndir; ++k) Lmax = p.dir[k].L > Lmax ? p.dir[k].L : Lmax;
  const int kcap = ((Lmax + 31) / 32 * 32) < KCMAX ? (Lmax + 31) / 32 * 32 : KCMAX;
  const int fixedBytes = fixed_floats(kcap) * 4;
  int sFloats = 0;
  int64_t total = 0;
  for (int k = 0; k < p.ndir; ++k) {
    TwinAttnDir& D = p.dir[k];
    const int L = D.L, SL = (L + 31) / 32 * 32;
    const int qbMax = ((maxOptin - fixedBytes) / 4 / SL) / 4 * 4;
    if (qbMax < 4)
      throw std::invalid_argument("twinAttention: sequences of " + std::to_string(L) +
                                  " tokens need more shared memory than this GPU offers (" +
                                  std::to_string(maxOptin) + " bytes per block)");
    const int cap = qbMax < QBMAX ? qbMax : QBMAX;
    const int nblk = (L + cap - 1) / cap;
    D.qb = ((L + nblk - 1) / nblk + 3) / 4 * 4;  // balanced blocks, multiple of 4, <= cap
    D.nqb = (L + D.qb - 1) / D.qb;
    D.ctas = static_cast<int64_t>(p.B) * D.nseq * p.heads * D.nqb;
    total += D.ctas;
    if (D.qb * SL > sFloats) sFloats = D.qb * SL;
  }
  if (total <= 0) return;
  if (total > 0x7fffffffLL) throw std::invalid_argument("twinAttention: too many sequences for one launch");
  // 16-byte rows: channel offsets (C, head·d) and token strides multiples of 4.
  p.vec = (p.C % 4 == 0 && p.d % 4 == 0) ? 1 : 0;
  for (int k = 0; k < p.ndir; ++k)
    if (p.dir[k].inTok % 4 || p.dir[k].inSeq % 4 || p.dir[k].inImg % 4 || !is_aligned(p.dir[k].q, 16)) p.vec = 0;
  const int smem = fixedBytes + sFloats * 4;
  if (smem > 48 * 1024) {  // opt in once per device, to the device's maximum
    static std::atomic<unsigned long long> done{0};
    const unsigned long long bit = 1ull << (dev & 63);
    if (!(done.load(std::memory_order_acquire) & bit)) {
      SOTR_CUDA_CHECK(cudaFuncSetAttribute(twin_attn_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, maxOptin));
      done.fetch_or(bit, std::memory_order_acq_rel);
    }
  }
  twin_attn_kernel<<<static_cast<unsigned>(total), kThreads, smem, stream>>>(p, kcap);
  SOTR_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda

// ---------------------------------------------------------------------------
// The op.
// ---------------------------------------------------------------------------
namespace {

// Device copies of one weight set: [colQ; colKV; rowQ; rowKV] (6C x C) and
// [colOut | rowOut] (C x 2C), made once (stream-ordered copies).
struct CudaTwinWeights {
  std::mutex mu;
  Tensor qkv, out;
};

TwinWeightCache<CudaTwinWeights>& cudaCache() {
  static auto* c = new TwinWeightCache<CudaTwinWeights>();  // never destroyed (exit order)
  return *c;
}

std::shared_ptr<CudaTwinWeights> cudaWeights(const OpCall& call, int64_t C, Backend& backend, cudaStream_t stream) {
  auto entry = cudaCache().get(call, call.device.index);
  std::lock_guard<std::mutex> lk(entry->mu);
  if (!entry->qkv.defined()) {
    const size_t cc = static_cast<size_t>(C * C) * sizeof(float);
    Tensor qkv = allocTensor(backend, DType::F32, {6 * C, C});
    char* q = static_cast<char*>(qkv.raw());
    SOTR_CUDA_CHECK(cudaMemcpyAsync(q, call.inputs[kTwinColQ].raw(), cc, cudaMemcpyDeviceToDevice, stream));
    SOTR_CUDA_CHECK(cudaMemcpyAsync(q + cc, call.inputs[kTwinColKV].raw(), 2 * cc, cudaMemcpyDeviceToDevice, stream));
    SOTR_CUDA_CHECK(cudaMemcpyAsync(q + 3 * cc, call.inputs[kTwinRowQ].raw(), cc, cudaMemcpyDeviceToDevice, stream));
    SOTR_CUDA_CHECK(cudaMemcpyAsync(q + 4 * cc, call.inputs[kTwinRowKV].raw(), 2 * cc, cudaMemcpyDeviceToDevice, stream));
    Tensor out = allocTensor(backend, DType::F32, {C, 2 * C});
    const size_t row = static_cast<size_t>(C) * sizeof(float);
    float* o = out.data<float>();
    SOTR_CUDA_CHECK(cudaMemcpy2DAsync(o, 2 * row, call.inputs[kTwinColOut].raw(), row, row, C,
                                      cudaMemcpyDeviceToDevice, stream));
    SOTR_CUDA_CHECK(cudaMemcpy2DAsync(o + C, 2 * row, call.inputs[kTwinRowOut].raw(), row, row, C,
                                      cudaMemcpyDeviceToDevice, stream));
    entry->qkv = qkv;
    entry->out = out;
  }
  return entry;
}

void twinCuda(const OpCall& call, std::vector<Tensor>& outs, ExecContext& ctx) {
  const TwinPlan p = planTwinAttention(call);
  if (outs[0].numel() == 0) return;
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
  Backend& be = *ctx.backend;
  const int64_t B = p.B, C = p.C, H = p.H, W = p.W, N = H * W;
  const auto w = cudaWeights(call, C, be, stream);
  const float* x = call.inputs[kTwinX].data<float>();
  float* y = outs[0].data<float>();
  const bool par = p.mode == TwinMode::Parallel;
  const int64_t ldq = par ? 6 * C : 3 * C, ldo = par ? 2 * C : C;
  Tensor qkv = allocTensor(be, DType::F32, {B * N * ldq});
  Tensor obuf = allocTensor(be, DType::F32, {B * N * ldo});
  Tensor bias = allocTensor(be, DType::F32, {2 * C});
  Tensor tbuf = par ? Tensor() : allocTensor(be, DType::F32, {B * C * N});
  float* Q = qkv.data<float>();
  float* O = obuf.data<float>();
  float* bs = bias.data<float>();
  const float* wqkv = w->qkv.data<float>();
  const float* wout = w->out.data<float>();

  // QKV[b] (N x ncols, ld ldq) = src[b]^T · wq^T, wq = ncols x C rows of the concatenation.
  auto project = [&](const float* src, const float* wq, int64_t ncols) {
    GemmArgs a;
    a.M = N;
    a.N = ncols;
    a.K = C;
    a.A = src;
    a.lda = N;
    a.transA = true;
    a.B = wq;
    a.ldb = C;
    a.transB = true;
    a.C = Q;
    a.ldc = ldq;
    a.batch = B;
    a.strideA = C * N;
    a.strideC = N * ldq;
    cuda::gemm(a, call.precision, stream);
  };
  auto direction = [&](int dir, int64_t q0, int64_t o0, float gate) {
    cuda::TwinAttnDir D;
    D.q = Q + q0;
    D.o = O + o0;
    D.inImg = N * ldq;
    D.outImg = N * ldo;
    D.gate = gate;
    if (dir == 0) {  // columns: sequence w, token h
      D.L = static_cast<int>(H);
      D.nseq = static_cast<int>(W);
      D.inSeq = ldq;
      D.inTok = W * ldq;
      D.outSeq = ldo;
      D.outTok = W * ldo;
    } else {  // rows: sequence h, token w
      D.L = static_cast<int>(W);
      D.nseq = static_cast<int>(H);
      D.inSeq = W * ldq;
      D.inTok = ldq;
      D.outSeq = W * ldo;
      D.outTok = ldo;
    }
    return D;
  };
  auto params = [&]() {
    cuda::TwinAttnParams a;
    a.B = static_cast<int>(B);
    a.C = static_cast<int>(C);
    a.heads = static_cast<int>(p.heads);
    a.d = static_cast<int>(p.d);
    a.scale = p.scale;
    return a;
  };
  // dst[b] (C x N) = wo (C x kdim, ld 2C) · O[b]^T + bias + res[b]
  auto outProj = [&](const float* wo, int64_t kdim, const float* bvec, const float* res, float* dst) {
    GemmArgs a;
    a.M = C;
    a.N = N;
    a.K = kdim;
    a.A = wo;
    a.lda = 2 * C;
    a.B = O;
    a.ldb = ldo;
    a.transB = true;
    a.C = dst;
    a.ldc = N;
    a.batch = B;
    a.strideB = N * ldo;
    a.strideC = C * N;
    a.ep.bias = bvec;
    a.ep.channelAxis = 0;
    a.ep.residual = res;
    a.ep.ldr = N;
    a.ep.strideR = C * N;
    cuda::gemm(a, call.precision, stream);
  };
  const float* bc = call.inputs[kTwinColOutBias].data<float>();
  const float* br = call.inputs[kTwinRowOutBias].data<float>();

  if (par) {
    project(x, wqkv, 6 * C);
    cuda::TwinAttnParams a = params();
    a.ndir = 2;
    a.dir[0] = direction(0, 0, 0, p.gCol);
    a.dir[1] = direction(1, 3 * C, C, p.gRow);
    a.nbias = 2;
    a.bias[0] = bc;
    a.bias[1] = br;
    a.biasGate[0] = p.gCol;
    a.biasGate[1] = p.gRow;
    a.biasOut = bs;
    cuda::twin_attention_core(a, stream);
    outProj(wout, 2 * C, bs, x, y);
  } else {
    float* t = tbuf.data<float>();
    project(x, wqkv, 3 * C);
    cuda::TwinAttnParams a = params();
    a.dir[0] = direction(0, 0, 0, p.gCol);
    a.nbias = 1;
    a.bias[0] = bc;
    a.biasGate[0] = p.gCol;
    a.biasOut = bs;
    cuda::twin_attention_core(a, stream);
    outProj(wout, C, bs, x, t);
    project(t, wqkv + 3 * C * C, 3 * C);
    a.dir[0] = direction(1, 0, 0, p.gRow);
    a.bias[0] = br;
    a.biasGate[0] = p.gRow;
    a.biasOut = bs + C;
    cuda::twin_attention_core(a, stream);
    outProj(wout + C, C, bs + C, t, y);
  }
  // Scratch tensors return to the caching allocator here; the queue's single
  // stream orders any reuse after the kernels above.
}

}  // namespace

static CudaRegistrar reg("twinAttention", twinCuda);

}  // namespace sotr
