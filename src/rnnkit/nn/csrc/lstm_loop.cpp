// The LSTM time loop of rnnkit's options torch's kernel lacks (layer norm, peepholes, zoneout,
// recurrent dropout), forward and backward, one direction of one layer.
//
// Each step is one matrix product (h_{t-1} W_hh^T; in the backward pass dz_t W_hh) and one
// pass over the rows that does all the pointwise work of the step, where the Python loop runs
// some twenty separate operations. The weight gradients are summed over all steps after the
// loop, dW_hh in one matrix product. Shapes: T steps, N rows, H units, G = 4H.
//
// Forward, per row (rnnkit.nn.cells.LSTMCell.step; LN(z) = (z - mean z) / sqrt(var z + 1e-5)):
//   v   = h ⊙ keep                         keep: recurrent dropout's mask (1 without)
//   z   = v W_hh^T;  A = x_proj + g_z ⊙ LN(z)   (A = x_proj + z without layer norm)
//   i = σ(A_i + w_ci ⊙ c),  f = σ(A_f + w_cf ⊙ c),  g = tanh(A_g)
//   c' = f ⊙ c + i ⊙ g,     o = σ(A_o + w_co ⊙ c')
//   k = tanh(g_c ⊙ LN(c') + b_c)            (k = tanh(c') without layer norm)
//   h' = o ⊙ k
//   zoneout: s_new = s' + q ⊙ (s - s')      q = p in evaluation, the 0/1 keep-draw in training
//   padding: a row past its length keeps h and c unchanged.
// Backward follows the same equations in reverse; see backward_row.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr double kLayerNormEps = 1e-5;
constexpr int64_t kSplitRowsBelowBytes = 1 << 20;  // W_hh up to 1 MiB: H <= 256 in float32

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

// Layer-normalise n[0..width) from z (the gain is the caller's); returns 1 / std. The sums run
// in double, as precise as the reference's.
template <typename T> T normalise(const T* z, T* n, int64_t width) {
  double mean = 0, var = 0;
  SUM(mean) for (int64_t j = 0; j < width; ++j) mean += z[j];
  mean /= double(width);
  SUM(var) for (int64_t j = 0; j < width; ++j) { const double d = z[j] - mean; var += d * d; }
  const T rstd = T(1.0 / std::sqrt(var / double(width) + kLayerNormEps));
  const T shift = T(mean);
  VECTORISE for (int64_t j = 0; j < width; ++j) n[j] = (z[j] - shift) * rstd;
  return rstd;
}

// The gradient of LN's input from dn (the gradient of its normalised output) in place:
// dz = rstd (dn - mean(dn) - n mean(dn ⊙ n)).
template <typename T> void normalise_backward(T* dn, const T* n, T rstd, int64_t width) {
  double m1 = 0, m2 = 0;
  SUM(m1, m2) for (int64_t j = 0; j < width; ++j) { m1 += dn[j]; m2 += double(dn[j]) * n[j]; }
  const T mean_dn = T(m1 / double(width)), mean_dn_n = T(m2 / double(width));
  VECTORISE for (int64_t j = 0; j < width; ++j) dn[j] = rstd * (dn[j] - mean_dn - n[j] * mean_dn_n);
}

template <typename T> const T* data_or_null(const at::Tensor& t) {
  return t.numel() ? t.data_ptr<T>() : nullptr;
}

// Everything one direction of one layer runs with, as raw pointers (null: option absent).
template <typename T> struct Weights {
  const T* peephole;     // (3H) w_ci, w_cf, w_co
  const T* gain_z;       // (4H) layer-norm gain of h W_hh^T
  const T* gain_c;       // (H)  layer-norm gain and bias of c'
  const T* bias_c;       // (H)
  const T* keep;         // (N, H) recurrent dropout
  const T* zoneout;      // (T, N, 2H) q for h then c
  const uint8_t* mask;   // (T, N) 1 at real steps
};

template <typename T> Weights<T> weights_of(
    const at::Tensor& peephole, const at::Tensor& gain_z, const at::Tensor& gain_c,
    const at::Tensor& bias_c, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask) {
  return {data_or_null<T>(peephole), data_or_null<T>(gain_z), data_or_null<T>(gain_c),
          data_or_null<T>(bias_c),   data_or_null<T>(keep),   data_or_null<T>(zoneout),
          mask.numel() ? mask.data_ptr<uint8_t>() : nullptr};
}

// What the forward pass keeps for the backward pass, (T, N, ...) each.
struct Saved {
  at::Tensor visible, c_prev, gates, c_new, normal_z, rstd_z, normal_c, rstd_c, k;
};

template <typename T>
void forward_row(const Weights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                 const T* x_proj, const T* z, T* h, T* c, T* y, T* c_prev, T* gates, T* c_new,
                 T* normal_z, T* rstd_z, T* normal_c, T* rstd_c, T* k_out, T* a) {
  const int64_t G = 4 * H;
  if (w.gain_z) {
    rstd_z[0] = normalise(z, normal_z, G);
    VECTORISE for (int64_t j = 0; j < G; ++j) a[j] = x_proj[j] + w.gain_z[j] * normal_z[j];
  } else {
    VECTORISE for (int64_t j = 0; j < G; ++j) a[j] = x_proj[j] + z[j];
  }
  VECTORISE for (int64_t j = 0; j < H; ++j) c_prev[j] = c[j];
  T* gi = gates; T* gf = gates + H; T* gg = gates + 2 * H; T* go = gates + 3 * H;
  if (w.peephole) {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      gi[j] = sigmoid(a[j] + w.peephole[j] * c[j]);
      gf[j] = sigmoid(a[H + j] + w.peephole[H + j] * c[j]);
    }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) { gi[j] = sigmoid(a[j]); gf[j] = sigmoid(a[H + j]); }
  }
  VECTORISE for (int64_t j = 0; j < H; ++j) {
    gg[j] = tanh_(a[2 * H + j]);
    c_new[j] = gf[j] * c[j] + gi[j] * gg[j];
  }
  if (w.peephole) {
    VECTORISE for (int64_t j = 0; j < H; ++j) go[j] = sigmoid(a[3 * H + j] + w.peephole[2 * H + j] * c_new[j]);
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) go[j] = sigmoid(a[3 * H + j]);
  }
  if (w.gain_c) {
    rstd_c[0] = normalise(c_new, normal_c, H);
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      const T b = w.bias_c ? w.bias_c[j] : T(0);
      k_out[j] = tanh_(w.gain_c[j] * normal_c[j] + b);
    }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) k_out[j] = tanh_(c_new[j]);
  }
  const T* q = w.zoneout ? w.zoneout + (t * N + n) * 2 * H : nullptr;
  if (w.mask && !w.mask[t * N + n]) {  // past the row's length: the state is carried over
    VECTORISE for (int64_t j = 0; j < H; ++j) y[j] = h[j];
  } else if (q) {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      const T h_new = go[j] * k_out[j];
      h[j] = h_new + q[j] * (h[j] - h_new);
      c[j] = c_new[j] + q[H + j] * (c[j] - c_new[j]);
      y[j] = h[j];
    }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      h[j] = go[j] * k_out[j];
      c[j] = c_new[j];
      y[j] = h[j];
    }
  }
}

template <typename T>
void backward_row(const Weights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                  const T* dy, T* dh, T* dc, const T* c_prev, const T* gates, const T* c_new,
                  const T* normal_z, T rstd_z, const T* normal_c, T rstd_c, const T* k,
                  T* da, T* dz, T* dk_pre, T* dc_new, T* dn) {
  const int64_t G = 4 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  const bool real = !w.mask || w.mask[t * N + n];
  if (!real) {  // the state passed through unchanged: so does its gradient
    VECTORISE for (int64_t j = 0; j < G; ++j) { da[j] = 0; dz[j] = 0; }
    VECTORISE for (int64_t j = 0; j < H; ++j) dk_pre[j] = 0;
    return;
  }
  const T* q = w.zoneout ? w.zoneout + (t * N + n) * 2 * H : nullptr;
  const T* gi = gates; const T* gf = gates + H; const T* gg = gates + 2 * H;
  const T* go = gates + 3 * H;
  T* dai = da; T* daf = da + H; T* dag = da + 2 * H; T* dao = da + 3 * H;
  T* dh_step = dz;  // scratch: dz is written last
  if (q) {  // zoneout: the share q of each unit's gradient goes to the previous state directly
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      dh_step[j] = (T(1) - q[j]) * dh[j];
      dc_new[j] = (T(1) - q[H + j]) * dc[j];
      dh[j] *= q[j];
      dc[j] *= q[H + j];
    }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      dh_step[j] = dh[j];
      dc_new[j] = dc[j];
      dh[j] = 0;
      dc[j] = 0;
    }
  }
  VECTORISE for (int64_t j = 0; j < H; ++j) {  // h' = o ⊙ k
    dao[j] = dh_step[j] * k[j] * go[j] * (T(1) - go[j]);
    dk_pre[j] = dh_step[j] * go[j] * (T(1) - k[j] * k[j]);  // gradient of tanh's argument
  }
  if (w.gain_c) {
    VECTORISE for (int64_t j = 0; j < H; ++j) dn[j] = dk_pre[j] * w.gain_c[j];
    normalise_backward(dn, normal_c, rstd_c, H);
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) dn[j] = dk_pre[j];
  }
  if (w.peephole) {  // o sees c' through w_co
    VECTORISE for (int64_t j = 0; j < H; ++j) dc_new[j] += dn[j] + dao[j] * w.peephole[2 * H + j];
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) dc_new[j] += dn[j];
  }
  VECTORISE for (int64_t j = 0; j < H; ++j) {  // c' = f ⊙ c + i ⊙ g
    const T d = dc_new[j];
    dai[j] = d * gg[j] * gi[j] * (T(1) - gi[j]);
    daf[j] = d * c_prev[j] * gf[j] * (T(1) - gf[j]);
    dag[j] = d * gi[j] * (T(1) - gg[j] * gg[j]);
    dc[j] += d * gf[j];
  }
  if (w.peephole) {  // i and f see c through w_ci, w_cf
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      dc[j] += dai[j] * w.peephole[j] + daf[j] * w.peephole[H + j];
    }
  }
  if (w.gain_z) {
    VECTORISE for (int64_t j = 0; j < G; ++j) dz[j] = da[j] * w.gain_z[j];
    normalise_backward(dz, normal_z, rstd_z, G);
  } else {
    VECTORISE for (int64_t j = 0; j < G; ++j) dz[j] = da[j];
  }
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
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t share = std::max<int64_t>(1, (N + threads - 1) / threads);
  auto step = [&](int64_t i) { return forward ? i : T - 1 - i; };
  if (weight_bytes <= kSplitRowsBelowBytes) {
    at::parallel_for(0, N, share, [&](int64_t begin, int64_t end) {
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

at::Tensor empty_like_or_none(bool wanted, at::IntArrayRef shape, const at::Tensor& like) {
  return wanted ? at::empty(shape, like.options()) : at::empty({0}, like.options());
}

}  // namespace

// Returns (outputs (T, N, H), h_T, c_T, *saved); with save false (inference), the saved
// tensors hold the last step only, so memory does not grow with T.
std::vector<at::Tensor> lstm_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& c0,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& keep,
    const at::Tensor& zoneout, const at::Tensor& mask, bool save) {
  const int64_t T = x_proj.size(0), N = x_proj.size(1), G = x_proj.size(2), H = G / 4;
  const int64_t S = save ? T : 1;  // steps kept
  const auto options = x_proj.options();
  at::Tensor h = h0.clone(), c = c0.clone();
  at::Tensor y = at::empty({T, N, H}, options);
  Saved s{at::empty({S, N, H}, options), at::empty({S, N, H}, options),
          at::empty({S, N, G}, options), at::empty({S, N, H}, options),
          empty_like_or_none(gain_z.numel(), {S, N, G}, x_proj),
          empty_like_or_none(gain_z.numel(), {S, N}, x_proj),
          empty_like_or_none(gain_c.numel(), {S, N, H}, x_proj),
          empty_like_or_none(gain_c.numel(), {S, N}, x_proj),
          at::empty({S, N, H}, options)};
  const at::Tensor weight_t = weight_hh.t().contiguous();  // (H, G): each step a plain product
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "lstm_loop_forward", [&] {
    const auto w = weights_of<scalar_t>(peephole, gain_z, gain_c, bias_c, keep, zoneout, mask);
    at::Tensor z = at::empty({N, G}, options);
    auto product = [&](int64_t t, int64_t begin, int64_t end) {  // z = (h ⊙ keep) W_hh^T
      at::Tensor visible = s.visible[save ? t : 0].narrow(0, begin, end - begin);
      at::Tensor h_rows = h.narrow(0, begin, end - begin);
      if (keep.numel()) at::mul_out(visible, h_rows, keep.narrow(0, begin, end - begin));
      else visible.copy_(h_rows);
      at::Tensor z_rows = z.narrow(0, begin, end - begin);
      at::mm_out(z_rows, visible, weight_t);
    };
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(G);
      const int64_t slot = save ? t : 0;
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n, kept = slot * N + n;
        forward_row<scalar_t>(
            w, H, t, N, n, x_proj.data_ptr<scalar_t>() + row * G,
            z.data_ptr<scalar_t>() + n * G, h.data_ptr<scalar_t>() + n * H,
            c.data_ptr<scalar_t>() + n * H, y.data_ptr<scalar_t>() + row * H,
            s.c_prev.data_ptr<scalar_t>() + kept * H, s.gates.data_ptr<scalar_t>() + kept * G,
            s.c_new.data_ptr<scalar_t>() + kept * H,
            w.gain_z ? s.normal_z.data_ptr<scalar_t>() + kept * G : nullptr,
            w.gain_z ? s.rstd_z.data_ptr<scalar_t>() + kept : nullptr,
            w.gain_c ? s.normal_c.data_ptr<scalar_t>() + kept * H : nullptr,
            w.gain_c ? s.rstd_c.data_ptr<scalar_t>() + kept : nullptr,
            s.k.data_ptr<scalar_t>() + kept * H, scratch.data());
      }
    };
    run_steps(T, N, true, weight_hh.numel() * weight_hh.element_size(), product, rows);
  });
  return {y, h, c, s.visible, s.c_prev, s.gates, s.c_new, s.normal_z, s.rstd_z, s.normal_c,
          s.rstd_c, s.k};
}

// Returns (d x_proj, d h_0, d c_0, d W_hh, d peephole, d gain_z, d gain_c, d bias_c); the
// gradients of absent options are empty.
std::vector<at::Tensor> lstm_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& d_c,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& keep,
    const at::Tensor& zoneout, const at::Tensor& mask, const at::Tensor& visible,
    const at::Tensor& c_prev, const at::Tensor& gates, const at::Tensor& c_new,
    const at::Tensor& normal_z, const at::Tensor& rstd_z, const at::Tensor& normal_c,
    const at::Tensor& rstd_c, const at::Tensor& k) {
  const int64_t T = gates.size(0), N = gates.size(1), G = gates.size(2), H = G / 4;
  at::Tensor dh = d_h.clone(), dc = d_c.clone();
  at::Tensor da = at::empty({T, N, G}, gates.options());
  at::Tensor dz = at::empty({T, N, G}, gates.options());
  at::Tensor dk_pre = at::empty({T, N, H}, gates.options());
  at::Tensor dy = d_outputs.contiguous();
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_loop_backward", [&] {
    const auto w = weights_of<scalar_t>(peephole, gain_z, gain_c, bias_c, keep, zoneout, mask);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(2 * H);
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n;
        backward_row<scalar_t>(
            w, H, t, N, n, dy.data_ptr<scalar_t>() + row * H, dh.data_ptr<scalar_t>() + n * H,
            dc.data_ptr<scalar_t>() + n * H, c_prev.data_ptr<scalar_t>() + row * H,
            gates.data_ptr<scalar_t>() + row * G, c_new.data_ptr<scalar_t>() + row * H,
            w.gain_z ? normal_z.data_ptr<scalar_t>() + row * G : nullptr,
            w.gain_z ? rstd_z.data_ptr<scalar_t>()[row] : scalar_t(0),
            w.gain_c ? normal_c.data_ptr<scalar_t>() + row * H : nullptr,
            w.gain_c ? rstd_c.data_ptr<scalar_t>()[row] : scalar_t(0),
            k.data_ptr<scalar_t>() + row * H, da.data_ptr<scalar_t>() + row * G,
            dz.data_ptr<scalar_t>() + row * G, dk_pre.data_ptr<scalar_t>() + row * H,
            scratch.data(), scratch.data() + H);
      }
    };
    auto product = [&](int64_t t, int64_t begin, int64_t end) {  // d h_{t-1} += dz_t W_hh ⊙ keep
      at::Tensor dh_rows = dh.narrow(0, begin, end - begin);
      at::Tensor dz_rows = dz[t].narrow(0, begin, end - begin);
      if (keep.numel()) dh_rows.addcmul_(at::mm(dz_rows, weight_hh), keep.narrow(0, begin, end - begin));
      else dh_rows.addmm_(dz_rows, weight_hh);
    };
    run_steps(T, N, false, weight_hh.numel() * weight_hh.element_size(), product, rows);
  });
  at::Tensor d_weight = at::mm(dz.view({T * N, G}).t(), visible.view({T * N, H}));
  at::Tensor d_peephole = at::empty({0}, gates.options());
  if (peephole.numel()) {
    at::Tensor d_io = da.narrow(2, 0, 2 * H) * c_prev.repeat({1, 1, 2});
    at::Tensor d_o = da.narrow(2, 3 * H, H) * c_new;
    d_peephole = at::cat({d_io.sum({0, 1}), d_o.sum({0, 1})});
  }
  at::Tensor d_gain_z = gain_z.numel() ? (da * normal_z).sum({0, 1}) : at::empty({0}, gates.options());
  at::Tensor d_gain_c = at::empty({0}, gates.options()), d_bias_c = at::empty({0}, gates.options());
  if (gain_c.numel()) {
    d_gain_c = (dk_pre * normal_c).sum({0, 1});
    if (bias_c.numel()) d_bias_c = dk_pre.sum({0, 1});
  }
  return {da, dh, dc, d_weight, d_peephole, d_gain_z, d_gain_c, d_bias_c};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &lstm_loop_forward, "LSTM time loop, forward");
  m.def("backward", &lstm_loop_backward, "LSTM time loop, backward");
}
