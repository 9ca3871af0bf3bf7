// The GRU time loop of rnnkit's options torch's kernel lacks (layer norm, zoneout, recurrent
// dropout), forward and backward, one direction of one layer; the driver and the shared math
// are in loop_common.h. Shapes: T steps, N rows, H units, G = 3H.
//
// Forward, per row (rnnkit.nn.cells.GRUCell.step; LN(z) = (z - mean z) / sqrt(var z + 1e-5)):
//   v  = h ⊙ keep                          keep: recurrent dropout's mask (1 without)
//   z  = v W_hh^T;  b = g_z ⊙ LN(z) + b_hh      (b = z + b_hh without layer norm)
//   r = σ(x_r + b_r),  u = σ(x_u + b_u),  n = tanh(x_n + r ⊙ b_n)     (x: x_proj)
//   h' = n + u ⊙ (v - n)
//   zoneout: h_new = q ⊙ h + (1 - q) ⊙ h'   q = p in evaluation, the 0/1 keep-draw in training
//   padding: a row past its length keeps h unchanged.
// Backward, per row, from dh (the gradient of the row's state after the step):
//   dh' = (1 - q) ⊙ dh,  dn = dh' ⊙ (1 - u),  du = dh' ⊙ (v - n)
//   da_n = dn ⊙ (1 - n²),  dr = da_n ⊙ b_n,  da_r = dr ⊙ r (1 - r),  da_u = du ⊙ u (1 - u)
//   d x_proj = (da_r, da_u, da_n);  db = (da_r, da_u, da_n ⊙ r)
//   dz = db (LN: its gradient through g_z ⊙ LN);  dh_{t-1} = q ⊙ dh + (dh' ⊙ u + dz W_hh) ⊙ keep

#include "loop_common.h"
#include "loops.h"

#include <vector>

namespace {

using namespace rnnkit_loops;

template <typename T> struct GRUWeights {
  const T* bias;        // (3H) b_hh
  const T* gain_z;      // (3H) layer-norm gain of v W_hh^T
  const T* keep;        // (N, H) recurrent dropout
  Zoneout<T> zoneout;
  const uint8_t* mask;  // (T, N) 1 at real steps
};

template <typename T> GRUWeights<T> gru_weights_of(
    const at::Tensor& bias, const at::Tensor& gain_z, const at::Tensor& keep,
    const at::Tensor& zoneout, const at::Tensor& mask) {
  return {data_or_null<T>(bias), data_or_null<T>(gain_z), data_or_null<T>(keep),
          zoneout_of<T>(zoneout), mask.numel() ? mask.data_ptr<uint8_t>() : nullptr};
}

// One row's step: h (in place) and its output y; keeps the gates r, u, n, b_n and, with layer
// norm, LN(z) and 1 / std. ``v`` may be ``h`` itself (no recurrent dropout).
template <typename T>
void forward_row(const GRUWeights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                 const T* x, const T* z, const T* v, T* h, T* y, T* gates, T* b_n,
                 T* normal_z, T* rstd_z, T* b) {
  const int64_t G = 3 * H;
  if (padded(w.mask, t, N, n)) {  // past the row's length: the state is carried over
    VECTORISE for (int64_t j = 0; j < H; ++j) y[j] = h[j];
    if (w.gain_z) {  // read by the gain's gradient (times 0): must not be NaN
      VECTORISE for (int64_t j = 0; j < G; ++j) normal_z[j] = 0;
    }
    return;
  }
  if (w.gain_z) {
    rstd_z[0] = normalise(z, normal_z, G);
    if (w.bias) {
      VECTORISE for (int64_t j = 0; j < G; ++j) b[j] = w.gain_z[j] * normal_z[j] + w.bias[j];
    } else {
      VECTORISE for (int64_t j = 0; j < G; ++j) b[j] = w.gain_z[j] * normal_z[j];
    }
  } else if (w.bias) {
    VECTORISE for (int64_t j = 0; j < G; ++j) b[j] = z[j] + w.bias[j];
  } else {
    VECTORISE for (int64_t j = 0; j < G; ++j) b[j] = z[j];
  }
  T* r = gates; T* u = gates + H; T* nn = gates + 2 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) {
    r[j] = sigmoid(x[j] + b[j]);
    u[j] = sigmoid(x[H + j] + b[H + j]);
    b_n[j] = b[2 * H + j];
    nn[j] = tanh_(x[2 * H + j] + r[j] * b[2 * H + j]);
  }
  if (const T* q = w.zoneout.at(t, N, n)) {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      const T h_new = nn[j] + u[j] * (v[j] - nn[j]);
      h[j] = q[j] * h[j] + (T(1) - q[j]) * h_new;  // q = 1 keeps h exactly
      y[j] = h[j];
    }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      h[j] = nn[j] + u[j] * (v[j] - nn[j]);
      y[j] = h[j];
    }
  }
}

// Where a thread sums the gradients of the per-unit weights (null: option absent).
template <typename T> struct WeightSums {
  T* bias;    // (3H) Σ db
  T* gain_z;  // (3H) Σ db ⊙ LN(z)
};

// One row's step backward: dh (in place) becomes the gradient of the state before the step,
// less the product's share (dz W_hh, added by the driver); writes d x_proj (da) and the
// gradient of the product's output (dz) and adds to the weight sums. scratch: 4H values.
template <typename T>
void backward_row(const GRUWeights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                  const T* dy, T* dh, const T* v, const T* gates, const T* b_n,
                  const T* normal_z, const T* rstd_z, T* da, T* dz, const WeightSums<T>& sums,
                  T* scratch) {
  const int64_t G = 3 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  if (padded(w.mask, t, N, n)) {  // the state passed through unchanged: so does its gradient
    VECTORISE for (int64_t j = 0; j < G; ++j) { da[j] = 0; dz[j] = 0; }
    return;
  }
  T* dh_step = scratch;
  T* db = w.gain_z ? scratch + H : dz;  // the gradient of b; without layer norm, dz itself
  if (const T* q = w.zoneout.at(t, N, n)) {  // the share q goes to the previous state directly
    VECTORISE for (int64_t j = 0; j < H; ++j) { dh_step[j] = (T(1) - q[j]) * dh[j]; dh[j] *= q[j]; }
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) { dh_step[j] = dh[j]; dh[j] = 0; }
  }
  const T* r = gates; const T* u = gates + H; const T* nn = gates + 2 * H;
  const T* keep = w.keep ? w.keep + n * H : nullptr;
  VECTORISE for (int64_t j = 0; j < H; ++j) {
    const T d = dh_step[j];
    const T da_n = d * (T(1) - u[j]) * (T(1) - nn[j] * nn[j]);
    const T da_r = da_n * b_n[j] * r[j] * (T(1) - r[j]);
    const T da_u = d * (v[j] - nn[j]) * u[j] * (T(1) - u[j]);
    da[j] = da_r; da[H + j] = da_u; da[2 * H + j] = da_n;
    db[j] = da_r; db[H + j] = da_u; db[2 * H + j] = da_n * r[j];
    dh[j] += keep ? d * u[j] * keep[j] : d * u[j];
  }
  if (sums.bias) {
    VECTORISE for (int64_t j = 0; j < G; ++j) sums.bias[j] += db[j];
  }
  if (w.gain_z) {
    VECTORISE for (int64_t j = 0; j < G; ++j) {
      sums.gain_z[j] += db[j] * normal_z[j];
      dz[j] = db[j] * w.gain_z[j];
    }
    normalise_backward(dz, normal_z, *rstd_z, G);
  }
}

}  // namespace

std::vector<at::Tensor> gru_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& keep,
    const at::Tensor& zoneout, const at::Tensor& mask, bool save) {
  const int64_t T = x_proj.size(0), N = x_proj.size(1), G = x_proj.size(2), H = G / 3;
  const int64_t S = save ? T : 1;  // steps kept
  const bool layer_norm = gain_z.numel();
  at::Tensor h = h0.clone();
  at::Tensor y = at::empty({T, N, H}, x_proj.options());
  at::Tensor visible = empty_or_none(save || keep.numel(), {S, N, H}, x_proj);
  at::Tensor gates = at::empty({S, N, G}, x_proj.options());
  at::Tensor b_n = at::empty({S, N, H}, x_proj.options());
  at::Tensor normal_z = empty_or_none(layer_norm, {S, N, G}, x_proj);
  at::Tensor rstd_z = empty_or_none(layer_norm, {S, N}, x_proj);
  const at::Tensor weight_t = weight_hh.t().contiguous();  // (H, G): each step a plain product
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "gru_loop_forward", [&] {
    const auto w = gru_weights_of<scalar_t>(bias_hh, gain_z, keep, zoneout, mask);
    at::Tensor z = at::empty({N, G}, x_proj.options());
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      recurrent_product(h, keep, visible.numel() ? visible[save ? t : 0] : visible, weight_t, z,
                        begin, end);
    };
    using P = RowPointer<scalar_t>;
    const P x_ = rows_of<scalar_t>(x_proj, G), z_ = rows_of<scalar_t>(z, G),
            h_ = rows_of<scalar_t>(h, H), y_ = rows_of<scalar_t>(y, H),
            visible_ = rows_of<scalar_t>(visible, H), gates_ = rows_of<scalar_t>(gates, G),
            b_n_ = rows_of<scalar_t>(b_n, H), normal_z_ = rows_of<scalar_t>(normal_z, G),
            rstd_z_ = rows_of<scalar_t>(rstd_z, 1);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(G);
      const int64_t slot = save ? t : 0;
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n, kept = slot * N + n;
        scalar_t* h_row = h_.at(n);
        const scalar_t* v = visible_.base ? visible_.at(kept) : h_row;  // h ⊙ keep, or h
        forward_row<scalar_t>(w, H, t, N, n, x_.at(row), z_.at(n), v, h_row, y_.at(row),
                              gates_.at(kept), b_n_.at(kept), normal_z_.at(kept),
                              rstd_z_.at(kept), scratch.data());
      }
    };
    run_steps(T, N, true, weight_hh.numel() * weight_hh.element_size(), product, rows);
  });
  return {y, h, visible, gates, b_n, normal_z, rstd_z};
}

std::vector<at::Tensor> gru_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& keep,
    const at::Tensor& zoneout, const at::Tensor& mask, const at::Tensor& visible,
    const at::Tensor& gates, const at::Tensor& b_n, const at::Tensor& normal_z,
    const at::Tensor& rstd_z) {
  const int64_t T = gates.size(0), N = gates.size(1), G = gates.size(2), H = G / 3;
  const bool layer_norm = gain_z.numel();
  at::Tensor dh = d_h.clone();
  at::Tensor da = at::empty({T, N, G}, gates.options());
  at::Tensor dz = at::empty({T, N, G}, gates.options());
  at::Tensor dy = d_outputs.contiguous();
  const int64_t bias_width = bias_hh.numel() ? G : 0, gain_width = layer_norm ? G : 0;
  const ThreadSums sums(bias_width + gain_width, gates);  // Σ db, then Σ db ⊙ LN(z)
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_loop_backward", [&] {
    const auto w = gru_weights_of<scalar_t>(bias_hh, gain_z, keep, zoneout, mask);
    using P = RowPointer<scalar_t>;
    const P dy_ = rows_of<scalar_t>(dy, H), dh_ = rows_of<scalar_t>(dh, H),
            visible_ = rows_of<scalar_t>(visible, H), gates_ = rows_of<scalar_t>(gates, G),
            b_n_ = rows_of<scalar_t>(b_n, H), normal_z_ = rows_of<scalar_t>(normal_z, G),
            rstd_z_ = rows_of<scalar_t>(rstd_z, 1), da_ = rows_of<scalar_t>(da, G),
            dz_ = rows_of<scalar_t>(dz, G);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(4 * H);
      scalar_t* row_sums = sums.mine<scalar_t>();
      const WeightSums<scalar_t> mine{bias_width ? row_sums : nullptr,
                                      gain_width ? row_sums + bias_width : nullptr};
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n;
        backward_row<scalar_t>(w, H, t, N, n, dy_.at(row), dh_.at(n), visible_.at(row),
                               gates_.at(row), b_n_.at(row), normal_z_.at(row), rstd_z_.at(row),
                               da_.at(row), dz_.at(row), mine, scratch.data());
      }
    };
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      recurrent_product_backward(dh, dz[t], weight_hh, keep, begin, end);
    };
    run_steps(T, N, false, weight_hh.numel() * weight_hh.element_size(), product, rows);
  });
  at::Tensor d_weight = at::mm(dz.view({T * N, G}).t(), visible.view({T * N, H}));
  return {da, dh, d_weight, sums.total(0, bias_width), sums.total(bias_width, gain_width)};
}
