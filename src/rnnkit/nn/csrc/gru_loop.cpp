// The GRU time loop of rnnkit's options torch's kernel lacks (layer norm, zoneout, recurrent
// dropout), forward and backward, one direction of one layer; the driver and the shared math
// are in loop_common.h. Shapes: T steps, N rows, H units, G = 3H.
//
// Forward, per row (rnnkit.nn.cells.GRUCell.step; LN(z) = (z - mean z) / sqrt(var z + 1e-5)):
//   x' = g_x ⊙ LN(x W_ih^T) + b_ih with layer norm, else x_proj = x W_ih^T + b_ih as given
//   v  = h ⊙ keep                          keep: recurrent dropout's mask (1 without)
//   z  = v W_hh^T;  b = g_z ⊙ LN(z) + b_hh      (b = z + b_hh without layer norm)
//   r = σ(x'_r + b_r),  u = σ(x'_u + b_u),  n = tanh(x'_n + r ⊙ b_n)
//   h' = n + u ⊙ (v - n)
//   zoneout: h_new = q ⊙ h + (1 - q) ⊙ h'   q = p in evaluation, the 0/1 keep-draw in training
//   padding: a row past its length keeps h unchanged.
// Backward, per row, from dh (the gradient of the row's state after the step):
//   dh' = (1 - q) ⊙ dh,  dn = dh' ⊙ (1 - u),  du = dh' ⊙ (v - n)
//   da_n = dn ⊙ (1 - n²),  dr = da_n ⊙ b_n,  da_r = dr ⊙ r (1 - r),  da_u = du ⊙ u (1 - u)
//   d x' = (da_r, da_u, da_n);  db = (da_r, da_u, da_n ⊙ r)
//   dz = db (LN: its gradient through g_z ⊙ LN);  dh_{t-1} = q ⊙ dh + (dh' ⊙ u + dz W_hh) ⊙ keep

#include "loop_common.h"
#include "loops.h"

#include <vector>

namespace {

using namespace rnnkit_loops;

template <typename T> struct GRUWeights {
  InputNorm<T> input;   // layer norm of the input projection (see loop_common.h)
  const T* bias;        // (3H) b_hh
  const T* gain_z;      // (3H) layer-norm gain of v W_hh^T
  const T* keep;        // (N, H) recurrent dropout
  Zoneout<T> zoneout;
  const uint8_t* mask;  // (T, N) 1 at real steps
};

template <typename T> GRUWeights<T> gru_weights_of(
    const at::Tensor& bias, const at::Tensor& gain_z, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask) {
  return {input_norm_of<T>(gain_x, bias_x), data_or_null<T>(bias), data_or_null<T>(gain_z), data_or_null<T>(keep),
          zoneout_of<T>(zoneout, 1), mask.numel() ? mask.data_ptr<uint8_t>() : nullptr};
}

// One row's step: h (in place) and its output y; keeps the gates r, u, n, b_n and, with layer
// norm, LN(z), LN(x) and their 1 / std. ``v`` may be ``h`` itself (no recurrent dropout).
// scratch: 2G + H values.
template <typename T>
void forward_row(const GRUWeights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                 const T* x_proj, const T* z, const T* v, T* h, T* y, T* gates, T* b_n,
                 T* normal_z, T* rstd_z, T* normal_x, T* rstd_x, T* scratch) {
  const int64_t G = 3 * H;
  if (padded(w.mask, t, N, n)) {  // past the row's length: the state is carried over
    VECTORISE for (int64_t j = 0; j < H; ++j) y[j] = h[j];
    return;
  }
  T* b = scratch;
  const T* x = normalise_input(w.input, x_proj, normal_x, rstd_x, scratch + G, G);  // x'
  if (w.gain_z) {
    rstd_z[0] = normalise(z, normal_z, G);
    scale_shift(w.gain_z, normal_z, w.bias, b, G);
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
  if (const T* q = w.zoneout.at(t, N, n, H, scratch + 2 * G)) {
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
  T* gain_x;  // (3H) Σ da ⊙ LN(x W_ih^T)
  T* bias_x;  // (3H) Σ da
};

// One row's step backward: dh (in place) becomes the gradient of the state before the step,
// less the product's share (dz W_hh, added by the driver); writes the gradients of x' (da), of
// the input (dx; the same array as da without the input's layer norm) and of the product's
// output (dz) and adds to the weight sums. scratch: 5H values.
template <typename T>
void backward_row(const GRUWeights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                  const T* dy, T* dh, const T* v, const T* gates, const T* b_n,
                  const T* normal_z, const T* rstd_z, const T* normal_x, const T* rstd_x,
                  T* da, T* dx, T* dz, const WeightSums<T>& sums, T* scratch) {
  const int64_t G = 3 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  if (padded(w.mask, t, N, n)) {  // the state passed through unchanged: so does its gradient
    VECTORISE for (int64_t j = 0; j < G; ++j) { da[j] = 0; dx[j] = 0; dz[j] = 0; }
    return;
  }
  T* dh_step = scratch;
  T* db = w.gain_z ? scratch + H : dz;  // the gradient of b; without layer norm, dz itself
  if (const T* q = w.zoneout.at(t, N, n, H, scratch + 4 * H)) {  // the share q goes to the previous state directly
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
  if (w.gain_z) {  // b_hh, added after the norm, has its sum above
    scaled_norm_backward<T>(w.gain_z, db, normal_z, *rstd_z, dz, sums.gain_z, nullptr, G);
  }
  if (w.input.gain) {
    scaled_norm_backward(w.input.gain, da, normal_x, *rstd_x, dx, sums.gain_x, sums.bias_x, G);
  }
}

}  // namespace

std::vector<at::Tensor> gru_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, bool save) {
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
  at::Tensor normal_x = empty_or_none(gain_x.numel(), {S, N, G}, x_proj);
  at::Tensor rstd_x = empty_or_none(gain_x.numel(), {S, N}, x_proj);
  const int64_t weight_bytes = weight_hh.numel() * weight_hh.element_size();
  const StepProduct weight(weight_hh, rows_per_product(N, weight_bytes));
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "gru_loop_forward", [&] {
    const auto w = gru_weights_of<scalar_t>(bias_hh, gain_z, gain_x, bias_x, keep, zoneout, mask);
    at::Tensor z = at::empty({N, G}, x_proj.options());
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      recurrent_product(h, keep, visible.numel() ? visible[save ? t : 0] : visible, weight, z,
                        begin, end);
    };
    using P = RowPointer<scalar_t>;
    const P x_ = rows_of<scalar_t>(x_proj, G), z_ = rows_of<scalar_t>(z, G),
            h_ = rows_of<scalar_t>(h, H), y_ = rows_of<scalar_t>(y, H),
            visible_ = rows_of<scalar_t>(visible, H), gates_ = rows_of<scalar_t>(gates, G),
            b_n_ = rows_of<scalar_t>(b_n, H), normal_z_ = rows_of<scalar_t>(normal_z, G),
            rstd_z_ = rows_of<scalar_t>(rstd_z, 1), normal_x_ = rows_of<scalar_t>(normal_x, G),
            rstd_x_ = rows_of<scalar_t>(rstd_x, 1);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(2 * G + H);
      const int64_t slot = save ? t : 0;
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n, kept = slot * N + n;
        scalar_t* h_row = h_.at(n);
        const scalar_t* v = visible_.base ? visible_.at(kept) : h_row;  // h ⊙ keep, or h
        forward_row<scalar_t>(w, H, t, N, n, x_.at(row), z_.at(n), v, h_row, y_.at(row),
                              gates_.at(kept), b_n_.at(kept), normal_z_.at(kept),
                              rstd_z_.at(kept), normal_x_.at(kept), rstd_x_.at(kept),
                              scratch.data());
      }
    };
    run_steps(T, N, true, weight_bytes, product, rows);
  });
  return {y, h, visible, gates, b_n, normal_z, rstd_z, normal_x, rstd_x};
}

std::vector<at::Tensor> gru_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, const at::Tensor& visible, const at::Tensor& gates,
    const at::Tensor& b_n, const at::Tensor& normal_z, const at::Tensor& rstd_z,
    const at::Tensor& normal_x, const at::Tensor& rstd_x) {
  const int64_t T = gates.size(0), N = gates.size(1), G = gates.size(2), H = G / 3;
  const int64_t weight_bytes = weight_hh.numel() * weight_hh.element_size();
  // d h_{t-1} = dz_t W_hh, a product with the transpose of W_hh^T
  const StepProduct weight_t(weight_hh.t(), rows_per_product(N, weight_bytes));
  const bool normalised_input = gain_x.numel();
  at::Tensor dh = d_h.clone();
  at::Tensor da = at::empty({T, N, G}, gates.options());
  at::Tensor dx = normalised_input ? at::empty({T, N, G}, gates.options()) : da;
  at::Tensor dz = at::empty({T, N, G}, gates.options());
  at::Tensor dy = d_outputs.contiguous();
  SumLayout layout;
  const int64_t bias = layout.add(bias_hh.numel(), G), gain = layout.add(gain_z.numel(), G);
  const int64_t gain_in = layout.add(normalised_input, G);
  const int64_t bias_in = layout.add(normalised_input && bias_x.numel(), G);
  const ThreadSums sums(layout.width(), gates);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_loop_backward", [&] {
    const auto w = gru_weights_of<scalar_t>(bias_hh, gain_z, gain_x, bias_x, keep, zoneout, mask);
    using P = RowPointer<scalar_t>;
    const P dy_ = rows_of<scalar_t>(dy, H), dh_ = rows_of<scalar_t>(dh, H),
            visible_ = rows_of<scalar_t>(visible, H), gates_ = rows_of<scalar_t>(gates, G),
            b_n_ = rows_of<scalar_t>(b_n, H), normal_z_ = rows_of<scalar_t>(normal_z, G),
            rstd_z_ = rows_of<scalar_t>(rstd_z, 1), normal_x_ = rows_of<scalar_t>(normal_x, G),
            rstd_x_ = rows_of<scalar_t>(rstd_x, 1), da_ = rows_of<scalar_t>(da, G),
            dx_ = rows_of<scalar_t>(dx, G), dz_ = rows_of<scalar_t>(dz, G);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(5 * H);
      scalar_t* row_sums = sums.mine<scalar_t>();
      const WeightSums<scalar_t> mine{at_offset(row_sums, bias), at_offset(row_sums, gain),
                                      at_offset(row_sums, gain_in), at_offset(row_sums, bias_in)};
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n;
        backward_row<scalar_t>(w, H, t, N, n, dy_.at(row), dh_.at(n), visible_.at(row),
                               gates_.at(row), b_n_.at(row), normal_z_.at(row), rstd_z_.at(row),
                               normal_x_.at(row), rstd_x_.at(row), da_.at(row), dx_.at(row),
                               dz_.at(row), mine, scratch.data());
      }
    };
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      recurrent_product_backward(dh, dz[t], weight_t, keep, begin, end);
    };
    run_steps(T, N, false, weight_bytes, product, rows);
  });
  at::Tensor d_weight = at::mm(dz.view({T * N, G}).t(), visible.view({T * N, H}));
  return {dx,
          dh,
          d_weight,
          sums.total(bias, G),
          sums.total(gain, G),
          sums.total(gain_in, G),
          sums.total(bias_in, G)};
}
