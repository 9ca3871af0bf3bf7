// What the compiled time loops share: vectorisable exp, σ and tanh, layer normalisation and
// its gradient, and the driver that runs the steps over the rows (one direction of one layer).
#pragma once

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rnnkit_loops {

constexpr double kLayerNormEps = 1e-5;
constexpr int64_t kSplitRowsBelowBytes = 1 << 20;  // W_hh up to 1 MiB: H <= 256 in float32
constexpr int64_t kPackFromBytes = 1 << 20;  // W_hh packed once per loop from 1 MiB (StepProduct)

// The loops over a row's units write other arrays than they read: no dependence between
// iterations, so they run in vector registers.
#define VECTORISE _Pragma("GCC ivdep")
#define ALWAYS_INLINE inline __attribute__((always_inline))
// A sum over a row in vector registers: partial sums, added at the end (a tree, not a chain).
#define PRAGMA(text) _Pragma(#text)
#define SUM(...) PRAGMA(omp simd reduction(+ : __VA_ARGS__))

// exp(x) = 2^k exp(r), |r| <= ln(2) / 2, exp(r) by its Taylor polynomial of degree 7: relative
// error at most 1e-7 over [-87, 88] (measured in float32 arithmetic), and plain arithmetic the
// compiler vectorises (std::exp it does not).
ALWAYS_INLINE float vec_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float k = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = (x - k * 0.693145751953125f) - k * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
ALWAYS_INLINE double vec_exp(double x) { return std::exp(x); }

template <typename T> ALWAYS_INLINE T sigmoid(T x) { return T(1) / (T(1) + vec_exp(-x)); }
template <typename T> ALWAYS_INLINE T tanh_(T x) { return T(1) - T(2) / (vec_exp(T(2) * x) + T(1)); }

// Layer-normalise n[0..width) from z (the gain is the caller's); returns 1 / std. Mean and
// variance in two passes, each summed in as many partial sums as a vector has lanes (the
// rounding error of a sum of width / lanes terms, as torch's own layer norm).
template <typename T> T normalise(const T* z, T* n, int64_t width) {
  T mean = 0, var = 0;
  SUM(mean) for (int64_t j = 0; j < width; ++j) mean += z[j];
  mean /= T(width);
  SUM(var) for (int64_t j = 0; j < width; ++j) { const T d = z[j] - mean; var += d * d; }
  const T rstd = T(1) / std::sqrt(var / T(width) + T(kLayerNormEps));
  VECTORISE for (int64_t j = 0; j < width; ++j) n[j] = (z[j] - mean) * rstd;
  return rstd;
}

// The gradient of LN's input from dn (the gradient of its normalised output) in place:
// dz = rstd (dn - mean(dn) - n mean(dn ⊙ n)).
template <typename T> void normalise_backward(T* dn, const T* n, T rstd, int64_t width) {
  T m1 = 0, m2 = 0;
  SUM(m1, m2) for (int64_t j = 0; j < width; ++j) { m1 += dn[j]; m2 += dn[j] * n[j]; }
  const T mean_dn = m1 / T(width), mean_dn_n = m2 / T(width);
  VECTORISE for (int64_t j = 0; j < width; ++j) dn[j] = rstd * (dn[j] - mean_dn - n[j] * mean_dn_n);
}

// A tensor of rows of ``width`` values as a raw pointer, taken once (not per row and step):
// row r starts at at(r); null for an empty tensor (an absent option).
template <typename T> struct RowPointer {
  T* base;
  int64_t width;
  ALWAYS_INLINE T* at(int64_t row) const { return base ? base + row * width : nullptr; }
};

template <typename T> RowPointer<T> rows_of(const at::Tensor& t, int64_t width) {
  return {t.numel() ? t.data_ptr<T>() : nullptr, width};
}

template <typename T> const T* data_or_null(const at::Tensor& t) {
  return t.numel() ? t.data_ptr<T>() : nullptr;
}

inline at::Tensor empty_or_none(bool wanted, at::IntArrayRef shape, const at::Tensor& like) {
  return wanted ? at::empty(shape, like.options()) : at::empty({0}, like.options());
}

// The 32-bit integer hash "lowbias32" (C. Wellons, "Prospecting for hash functions", 2018).
ALWAYS_INLINE uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  return x ^ (x >> 16);
}

// Zoneout's keep-the-old-value weights q of one row at one step, h's units then c's (LSTM): in
// evaluation one row of p, the same for every row and step; in training 0 or 1, drawn where
// they are used from the counter-based hash of rnnkit/nn/zoneout_draws.py, which the Python
// loop computes too: unit i of the step's (parts, N, H) block keeps its value at step t where
// L(L(i ^ k1) ^ L(k2 + t)) >> 8 < threshold.
template <typename T> struct Zoneout {
  const T* p = nullptr;  // evaluation: (parts H); null and not drawn: no zoneout
  bool drawn = false;
  uint32_t key = 0, step_key = 0, threshold = 0;  // k1, k2, floor(p 2^24)
  int64_t parts = 0;

  // q of row n of N (H units per part) at step t; in training written into ``buffer``
  // (parts H values)
  ALWAYS_INLINE const T* at(int64_t t, int64_t N, int64_t n, int64_t H, T* buffer) const {
    if (!drawn) return p;
    const uint32_t step = lowbias32(step_key + static_cast<uint32_t>(t));
    for (int64_t part = 0; part < parts; ++part) {
      const uint32_t first = static_cast<uint32_t>((part * N + n) * H);
      T* q = buffer + part * H;
      VECTORISE for (int64_t j = 0; j < H; ++j) {
        const uint32_t unit = first + static_cast<uint32_t>(j);
        q[j] = lowbias32(lowbias32(unit ^ key) ^ step) >> 8 < threshold ? T(1) : T(0);
      }
    }
    return buffer;
  }
};

// From the loop's zoneout argument: empty (none), p's row (evaluation) or the int64 keys
// (k1, k2, threshold) (training), for ``parts`` state tensors.
template <typename T> Zoneout<T> zoneout_of(const at::Tensor& zoneout, int64_t parts) {
  if (!zoneout.numel()) return {};
  if (zoneout.scalar_type() != at::kLong) return {zoneout.data_ptr<T>()};
  const int64_t* k = zoneout.data_ptr<int64_t>();
  return {nullptr, true, static_cast<uint32_t>(k[0]), static_cast<uint32_t>(k[1]),
          static_cast<uint32_t>(k[2]), parts};
}

// out = gain ⊙ normal + bias (no bias: null).
template <typename T> ALWAYS_INLINE void scale_shift(const T* gain, const T* normal, const T* bias,
                                                     T* out, int64_t width) {
  if (bias) {
    VECTORISE for (int64_t j = 0; j < width; ++j) out[j] = gain[j] * normal[j] + bias[j];
  } else {
    VECTORISE for (int64_t j = 0; j < width; ++j) out[j] = gain[j] * normal[j];
  }
}

// The layer norm of the input projection, x' = g_x ⊙ LN(x W_ih^T) + b, done by the loop row by
// row (one pass over the (T, N, G) projection fewer than normalising it beforehand); null gain:
// the loop takes the projection as it is.
template <typename T> struct InputNorm {
  const T* gain;  // (G)
  const T* bias;  // (G) the input biases (null without)
};

template <typename T> InputNorm<T> input_norm_of(const at::Tensor& gain, const at::Tensor& bias) {
  return {data_or_null<T>(gain), data_or_null<T>(bias)};
}

// Writes x' of one row into out (keeping LN(x) and 1 / std for the backward pass) and returns
// it, or returns x itself without the norm.
template <typename T> ALWAYS_INLINE const T* normalise_input(const InputNorm<T>& in, const T* x,
                                                             T* normal, T* rstd, T* out,
                                                             int64_t width) {
  if (!in.gain) return x;
  rstd[0] = normalise(x, normal, width);
  scale_shift(in.gain, normal, in.bias, out, width);
  return out;
}

// The backward pass of one row of y = gain ⊙ LN(x) + bias: from dy writes dx and adds to the
// sums of the gain's and the bias's gradients (sum_bias null: no bias).
template <typename T> ALWAYS_INLINE void scaled_norm_backward(const T* gain, const T* dy,
                                                              const T* normal, T rstd, T* dx,
                                                              T* sum_gain, T* sum_bias,
                                                              int64_t width) {
  VECTORISE for (int64_t j = 0; j < width; ++j) {
    sum_gain[j] += dy[j] * normal[j];
    dx[j] = dy[j] * gain[j];
  }
  if (sum_bias) {
    VECTORISE for (int64_t j = 0; j < width; ++j) sum_bias[j] += dy[j];
  }
  normalise_backward(dx, normal, rstd, width);
}

// Sums over all rows and steps of the backward pass (the gradients of per-unit weights), kept
// as one partial row per thread while the rows are worked through and added at the end, so no
// second pass over (T, N, ...) tensors. Width 0: nothing to sum.
class ThreadSums {
 public:
  ThreadSums(int64_t width, const at::Tensor& like)
      : sums_(at::zeros({std::max<int64_t>(1, at::get_num_threads()), width}, like.options())) {}
  // The calling thread's partial row (null for width 0).
  template <typename T> T* mine() const {
    return sums_.numel() ? sums_.data_ptr<T>() + at::get_thread_num() * sums_.size(1) : nullptr;
  }
  // The sum over the threads of the width values from offset; empty for an absent weight.
  at::Tensor total(int64_t offset, int64_t width) const {
    if (offset < 0) return at::empty({0}, sums_.options());
    return sums_.narrow(1, offset, width).sum(0);
  }

 private:
  at::Tensor sums_;
};

// Offsets of the sums of several per-unit weights side by side in a thread's row of
// `ThreadSums`; an absent weight takes no room (offset -1).
class SumLayout {
 public:
  int64_t add(bool present, int64_t width) {
    if (!present) return -1;
    width_ += width;
    return width_ - width;
  }
  int64_t width() const { return width_; }

 private:
  int64_t width_ = 0;
};

template <typename T> ALWAYS_INLINE T* at_offset(T* row, int64_t offset) {
  return row && offset >= 0 ? row + offset : nullptr;
}

// Whether row n is past its length at step t (its state is carried over unchanged).
ALWAYS_INLINE bool padded(const uint8_t* mask, int64_t t, int64_t N, int64_t n) {
  return mask && !mask[t * N + n];
}

// The rows each thread takes, ``ceil(N / threads)`` (the last thread perhaps fewer).
inline int64_t thread_share(int64_t N) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  return std::max<int64_t>(1, (N + threads - 1) / threads);
}

// How many rows each step's product takes at once (see `run_steps`): while W_hh fits a core's
// cache each thread's share, else all N rows in one product on all threads.
inline int64_t rows_per_product(int64_t N, int64_t weight_bytes) {
  return weight_bytes <= kSplitRowsBelowBytes ? thread_share(N) : N;
}

// out = input W^T with one W for every step of a loop, for inputs of ``rows`` rows.
//
// A matrix product packs its weight into the layout its kernel reads before it multiplies:
// at::mm does so at every call, T times a loop. For a float32 W of 1 MiB or more, where torch
// has MKL, W is packed once here (torch's mkl::_mkl_reorder_linear_weight) and each step runs
// MKL's product on the packed weight (mkl::_mkl_linear). Below 1 MiB the packed copy, several
// times the weight's size, costs more in cache than the packing saves. A smaller W, an input
// of another number of rows, float64, or torch without MKL: at::mm with W^T.
class StepProduct {
 public:
  StepProduct(const at::Tensor& weight, int64_t rows)
      : weight_(weight.contiguous()), weight_t_(weight.t().contiguous()), rows_(rows) {
    static const auto pack = mkl_op("mkl::_mkl_reorder_linear_weight");
    const bool large = weight.numel() * weight.element_size() >= kPackFromBytes;
    if (large && pack && linear() && weight.scalar_type() == at::kFloat) {
      packed_ = pack->typed<at::Tensor(const at::Tensor&, int64_t)>().call(weight_, rows);
    }
  }

  // out = input W^T, into ``out`` (input and out: (rows, in) and (rows, out), contiguous rows)
  void into(const at::Tensor& input, at::Tensor out) const {
    if (packed_.defined() && input.size(0) == rows_) out.copy_(packed(input));
    else at::mm_out(out, input, weight_t_);
  }

  // out += input W^T
  void add_to(const at::Tensor& input, at::Tensor out) const {
    if (packed_.defined() && input.size(0) == rows_) out.add_(packed(input));
    else out.addmm_(input, weight_t_);
  }

  // input W^T, a new tensor
  at::Tensor of(const at::Tensor& input) const {
    return packed_.defined() && input.size(0) == rows_ ? packed(input) : at::mm(input, weight_t_);
  }

 private:
  using Linear = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const std::optional<at::Tensor>&, int64_t);

  static std::optional<c10::OperatorHandle> mkl_op(const char* name) {
    return c10::Dispatcher::singleton().findSchema({name, ""});
  }

  static const std::optional<c10::OperatorHandle>& linear() {
    static const auto op = mkl_op("mkl::_mkl_linear");
    return op;
  }

  at::Tensor packed(const at::Tensor& input) const {
    return linear()->typed<Linear>().call(input, packed_, weight_, std::nullopt, rows_);
  }

  at::Tensor weight_, weight_t_, packed_;
  int64_t rows_;
};

// The recurrent product of rows [begin, end) at one step: visible = h ⊙ keep (recurrent
// dropout's mask; h itself without it), z = visible W_hh^T (``weight`` holds W_hh).
// ``visible`` is where the product's input is kept for the weight gradient; empty in inference
// without a mask, where h serves.
inline void recurrent_product(const at::Tensor& h, const at::Tensor& keep, at::Tensor visible,
                              const StepProduct& weight, at::Tensor z, int64_t begin,
                              int64_t end) {
  const int64_t rows = end - begin;
  at::Tensor h_rows = h.narrow(0, begin, rows);
  if (visible.numel()) {
    visible = visible.narrow(0, begin, rows);
    if (keep.numel()) at::mul_out(visible, h_rows, keep.narrow(0, begin, rows));
    else visible.copy_(h_rows);
    h_rows = visible;
  }
  weight.into(h_rows, z.narrow(0, begin, rows));
}

// Its backward for rows [begin, end): d h_{t-1} += (dz_t W_hh) ⊙ keep (``weight_t`` holds
// W_hh^T).
inline void recurrent_product_backward(at::Tensor dh, const at::Tensor& dz_t,
                                       const StepProduct& weight_t, const at::Tensor& keep,
                                       int64_t begin, int64_t end) {
  const int64_t rows = end - begin;
  at::Tensor dh_rows = dh.narrow(0, begin, rows);
  at::Tensor dz_rows = dz_t.narrow(0, begin, rows);
  if (keep.numel()) dh_rows.addcmul_(weight_t.of(dz_rows), keep.narrow(0, begin, rows));
  else weight_t.add_to(dz_rows, dh_rows);
}

// Runs T steps, each a matrix product and the rows' pointwise work (product first going
// forward, last going backward), product(t, begin, end) and rows(t, begin, end) for the rows
// [begin, end). Rows are independent, so while W_hh fits a core's cache each thread takes its
// share of the rows through all the steps, its products single-threaded, with no
// synchronisation between steps; a larger W_hh is better read once per step, so then each
// step's product runs on all threads over all rows, then the rows are split.
template <typename Product, typename Rows>
void run_steps(int64_t T, int64_t N, bool forward, int64_t weight_bytes, const Product& product,
               const Rows& rows) {
  const int64_t share = thread_share(N);
  auto step = [&](int64_t i) { return forward ? i : T - 1 - i; };
  // the caller's inference mode, grad mode and dispatch settings, for the products the other
  // threads run (at::parallel_for does not carry them over)
  const at::ThreadLocalState caller;
  if (weight_bytes <= kSplitRowsBelowBytes) {
    at::parallel_for(0, N, share, [&](int64_t begin, int64_t end) {
      const at::ThreadLocalStateGuard as_caller(caller);
      for (int64_t i = 0; i < T; ++i) {
        if (forward) product(step(i), begin, end);
        rows(step(i), begin, end);
        if (!forward) product(step(i), begin, end);
      }
    });
    return;
  }
  for (int64_t i = 0; i < T; ++i) {
    if (forward) product(step(i), 0, N);
    at::parallel_for(0, N, share, [&](int64_t begin, int64_t end) { rows(step(i), begin, end); });
    if (!forward) product(step(i), 0, N);
  }
}

}  // namespace rnnkit_loops
