// The LSTM time loop of rnnkit's options torch's kernel lacks (layer norm, peepholes, zoneout,
// recurrent dropout), forward and backward, one direction of one layer; the driver and the
// shared math are in loop_common.h.
//
// Each step is one matrix product (h_{t-1} W_hh^T; in the backward pass dz_t W_hh) and one
// pass over the rows that does all the pointwise work of the step, where the Python loop runs
// some twenty separate operations. dW_hh is summed over all steps after the loop in one matrix
// product; the gradients of the per-unit weights (gains, biases, peepholes) per thread as the
// rows are worked through. Shapes: T steps, N rows, H units, G = 4H.
//
// Forward, per row (rnnkit.nn.cells.LSTMCell.step; LN(z) = (z - mean z) / sqrt(var z + 1e-5)):
//   v   = h ⊙ keep                         keep: recurrent dropout's mask (1 without)
//   x'  = g_x ⊙ LN(x W_ih^T) + b with layer norm, else x_proj = x W_ih^T + b as given
//   z   = v W_hh^T;  A = x' + g_z ⊙ LN(z)   (A = x' + z without layer norm)
//   i = σ(A_i + w_ci ⊙ c),  f = σ(A_f + w_cf ⊙ c),  g = tanh(A_g)
//   c' = f ⊙ c + i ⊙ g,     o = σ(A_o + w_co ⊙ c')
//   k = tanh(g_c ⊙ LN(c') + b_c)            (k = tanh(c') without layer norm)
//   h' = o ⊙ k
//   zoneout: s_new = q ⊙ s + (1 - q) ⊙ s'  q = p in evaluation, the 0/1 keep-draw in training
//   padding: a row past its length keeps h and c unchanged.
// Backward follows the same equations in reverse; see backward_row.

#include "loop_common.h"
#include "loops.h"

#include <vector>

namespace {

using namespace rnnkit_loops;

template <typename T> struct Weights {
  InputNorm<T> input;    // layer norm of the input projection (see loop_common.h)
  const T* peephole;     // (3H) w_ci, w_cf, w_co
  const T* gain_z;       // (4H) layer-norm gain of h W_hh^T
  const T* gain_c;       // (H)  layer-norm gain and bias of c'
  const T* bias_c;       // (H)
  const T* keep;         // (N, H) recurrent dropout
  Zoneout<T> zoneout;    // q for h then c
  const uint8_t* mask;   // (T, N) 1 at real steps
};

template <typename T> Weights<T> weights_of(
    const at::Tensor& gain_x, const at::Tensor& bias_x, const at::Tensor& peephole,
    const at::Tensor& gain_z, const at::Tensor& gain_c, const at::Tensor& bias_c,
    const at::Tensor& keep, const at::Tensor& zoneout, const at::Tensor& mask) {
  return {input_norm_of<T>(gain_x, bias_x),
          data_or_null<T>(peephole), data_or_null<T>(gain_z), data_or_null<T>(gain_c),
          data_or_null<T>(bias_c),   data_or_null<T>(keep),   zoneout_of<T>(zoneout, 2),
          mask.numel() ? mask.data_ptr<uint8_t>() : nullptr};
}

// What the forward pass keeps for the backward pass, (T, N, ...) each.
struct Saved {
  at::Tensor visible, c_prev, gates, c_new, normal_z, rstd_z, normal_c, rstd_c, k, normal_x, rstd_x;
};

// One row's step: h, c (in place) and its output y; keeps what the backward pass needs.
// scratch: 6H values.
template <typename T>
void forward_row(const Weights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                 const T* x_proj, const T* z, T* h, T* c, T* y, T* c_prev, T* gates, T* c_new,
                 T* normal_z, T* rstd_z, T* normal_c, T* rstd_c, T* k_out, T* normal_x,
                 T* rstd_x, T* scratch) {
  const int64_t G = 4 * H;
  T* a = scratch;  // x' when normalised
  const T* x = normalise_input(w.input, x_proj, normal_x, rstd_x, a, G);
  if (w.gain_z) {
    rstd_z[0] = normalise(z, normal_z, G);
    VECTORISE for (int64_t j = 0; j < G; ++j) a[j] = x[j] + w.gain_z[j] * normal_z[j];
  } else {
    VECTORISE for (int64_t j = 0; j < G; ++j) a[j] = x[j] + z[j];
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
  const T* q = w.zoneout.at(t, N, n, H, scratch + G);
  if (padded(w.mask, t, N, n)) {  // past the row's length: the state is carried over
    VECTORISE for (int64_t j = 0; j < H; ++j) y[j] = h[j];
  } else if (q) {
    VECTORISE for (int64_t j = 0; j < H; ++j) {
      const T h_new = go[j] * k_out[j];
      h[j] = q[j] * h[j] + (T(1) - q[j]) * h_new;  // q = 1 keeps the state exactly
      c[j] = q[H + j] * c[j] + (T(1) - q[H + j]) * c_new[j];
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

// Where a thread sums the gradients of the per-unit weights (null: option absent).
template <typename T> struct WeightSums {
  T* gain_x;    // (4H) Σ da ⊙ LN(x W_ih^T)
  T* bias_x;    // (4H) Σ da
  T* gain_z;    // (4H) Σ da ⊙ LN(z)
  T* gain_c;    // (H)  Σ dk ⊙ LN(c')     dk: the gradient of tanh's argument
  T* bias_c;    // (H)  Σ dk
  T* peephole;  // (3H) Σ da_i ⊙ c, Σ da_f ⊙ c, Σ da_o ⊙ c'
};

// The offsets of those sums in a thread's row (-1: option absent).
struct SumOffsets {
  int64_t gain_x, bias_x, gain_z, gain_c, bias_c, peephole, width;
  template <typename T> WeightSums<T> in(T* row) const {
    return {at_offset(row, gain_x), at_offset(row, bias_x), at_offset(row, gain_z),
            at_offset(row, gain_c), at_offset(row, bias_c), at_offset(row, peephole)};
  }
};

SumOffsets sum_offsets(int64_t H, const at::Tensor& gain_x, const at::Tensor& bias_x,
                       const at::Tensor& gain_z, const at::Tensor& gain_c,
                       const at::Tensor& bias_c, const at::Tensor& peephole) {
  SumLayout layout;
  const bool normalised_input = gain_x.numel();
  SumOffsets o;
  o.gain_x = layout.add(normalised_input, 4 * H);
  o.bias_x = layout.add(normalised_input && bias_x.numel(), 4 * H);
  o.gain_z = layout.add(gain_z.numel(), 4 * H);
  o.gain_c = layout.add(gain_c.numel(), H);
  o.bias_c = layout.add(bias_c.numel(), H);
  o.peephole = layout.add(peephole.numel(), 3 * H);
  o.width = layout.width();
  return o;
}

// One row's step backward: dh, dc (in place) become the gradients of the state before the
// step, less the product's share (dz W_hh, added by the driver); writes the gradients of x'
// (da), of the input (dx; the same array as da without the input's layer norm) and of the
// product's output (dz; the same array as da without layer norm) and adds to the weight sums.
// scratch: 6H values.
template <typename T>
void backward_row(const Weights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                  const T* dy, T* dh, T* dc, const T* c_prev, const T* gates, const T* c_new,
                  const T* normal_z, const T* rstd_z, const T* normal_c, const T* rstd_c,
                  const T* k, const T* normal_x, const T* rstd_x, T* da, T* dx, T* dz,
                  const WeightSums<T>& sums, T* scratch) {
  const int64_t G = 4 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  if (padded(w.mask, t, N, n)) {  // the state passed through unchanged: so does its gradient
    VECTORISE for (int64_t j = 0; j < G; ++j) { da[j] = 0; dx[j] = 0; dz[j] = 0; }
    return;
  }
  T* dh_step = scratch; T* dc_new = scratch + H; T* dk = scratch + 2 * H; T* dn = scratch + 3 * H;
  const T* q = w.zoneout.at(t, N, n, H, scratch + 4 * H);
  const T* gi = gates; const T* gf = gates + H; const T* gg = gates + 2 * H;
  const T* go = gates + 3 * H;
  T* dai = da; T* daf = da + H; T* dag = da + 2 * H; T* dao = da + 3 * H;
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
    dk[j] = dh_step[j] * go[j] * (T(1) - k[j] * k[j]);  // gradient of tanh's argument
  }
  if (w.gain_c) {
    scaled_norm_backward(w.gain_c, dk, normal_c, *rstd_c, dn, sums.gain_c, sums.bias_c, H);
  } else {
    VECTORISE for (int64_t j = 0; j < H; ++j) dn[j] = dk[j];
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
      sums.peephole[j] += dai[j] * c_prev[j];
      sums.peephole[H + j] += daf[j] * c_prev[j];
      sums.peephole[2 * H + j] += dao[j] * c_new[j];
    }
  }
  if (w.gain_z) {  // no bias after this norm: b_hh is folded into the input's
    scaled_norm_backward<T>(w.gain_z, da, normal_z, *rstd_z, dz, sums.gain_z, nullptr, G);
  }
  if (w.input.gain) {
    scaled_norm_backward(w.input.gain, da, normal_x, *rstd_x, dx, sums.gain_x, sums.bias_x, G);
  }
}

}  // namespace

// Returns (outputs (T, N, H), h_T, c_T, *saved); with save false (inference), the saved
// tensors hold the last step only, so memory does not grow with T.
std::vector<at::Tensor> lstm_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& c0,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, bool save) {
  const int64_t T = x_proj.size(0), N = x_proj.size(1), G = x_proj.size(2), H = G / 4;
  const int64_t S = save ? T : 1;  // steps kept
  const auto options = x_proj.options();
  at::Tensor h = h0.clone(), c = c0.clone();
  at::Tensor y = at::empty({T, N, H}, options);
  Saved s{empty_or_none(save || keep.numel(), {S, N, H}, x_proj), at::empty({S, N, H}, options),
          at::empty({S, N, G}, options), at::empty({S, N, H}, options),
          empty_or_none(gain_z.numel(), {S, N, G}, x_proj),
          empty_or_none(gain_z.numel(), {S, N}, x_proj),
          empty_or_none(gain_c.numel(), {S, N, H}, x_proj),
          empty_or_none(gain_c.numel(), {S, N}, x_proj),
          at::empty({S, N, H}, options),
          empty_or_none(gain_x.numel(), {S, N, G}, x_proj),
          empty_or_none(gain_x.numel(), {S, N}, x_proj)};
  const int64_t weight_bytes = weight_hh.numel() * weight_hh.element_size();
  const StepProduct weight(weight_hh, rows_per_product(N, weight_bytes));
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "lstm_loop_forward", [&] {
    const auto w = weights_of<scalar_t>(gain_x, bias_x, peephole, gain_z, gain_c, bias_c, keep,
                                        zoneout, mask);
    at::Tensor z = at::empty({N, G}, options);
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      const at::Tensor& visible = s.visible;
      recurrent_product(h, keep, visible.numel() ? visible[save ? t : 0] : visible, weight, z,
                        begin, end);
    };
    using P = RowPointer<scalar_t>;
    const P x_ = rows_of<scalar_t>(x_proj, G), z_ = rows_of<scalar_t>(z, G),
            h_ = rows_of<scalar_t>(h, H), c_ = rows_of<scalar_t>(c, H), y_ = rows_of<scalar_t>(y, H),
            c_prev = rows_of<scalar_t>(s.c_prev, H), gates = rows_of<scalar_t>(s.gates, G),
            c_new = rows_of<scalar_t>(s.c_new, H), normal_z = rows_of<scalar_t>(s.normal_z, G),
            rstd_z = rows_of<scalar_t>(s.rstd_z, 1), normal_c = rows_of<scalar_t>(s.normal_c, H),
            rstd_c = rows_of<scalar_t>(s.rstd_c, 1), k = rows_of<scalar_t>(s.k, H),
            normal_x = rows_of<scalar_t>(s.normal_x, G), rstd_x = rows_of<scalar_t>(s.rstd_x, 1);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(6 * H);
      const int64_t slot = save ? t : 0;
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n, kept = slot * N + n;
        forward_row<scalar_t>(w, H, t, N, n, x_.at(row), z_.at(n), h_.at(n), c_.at(n),
                              y_.at(row), c_prev.at(kept), gates.at(kept), c_new.at(kept),
                              normal_z.at(kept), rstd_z.at(kept), normal_c.at(kept),
                              rstd_c.at(kept), k.at(kept), normal_x.at(kept), rstd_x.at(kept),
                              scratch.data());
      }
    };
    run_steps(T, N, true, weight_bytes, product, rows);
  });
  return {y,          h,          c,        s.visible,  s.c_prev, s.gates, s.c_new, s.normal_z,
          s.rstd_z,   s.normal_c, s.rstd_c, s.k,        s.normal_x, s.rstd_x};
}

// Returns (d x_proj, d h_0, d c_0, d W_hh, d peephole, d gain_z, d gain_c, d bias_c, d gain_x,
// d bias_x); the gradients of absent options are empty.
std::vector<at::Tensor> lstm_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& d_c,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, const at::Tensor& visible, const at::Tensor& c_prev,
    const at::Tensor& gates, const at::Tensor& c_new, const at::Tensor& normal_z,
    const at::Tensor& rstd_z, const at::Tensor& normal_c, const at::Tensor& rstd_c,
    const at::Tensor& k, const at::Tensor& normal_x, const at::Tensor& rstd_x) {
  const int64_t T = gates.size(0), N = gates.size(1), G = gates.size(2), H = G / 4;
  const int64_t weight_bytes = weight_hh.numel() * weight_hh.element_size();
  // d h_{t-1} = dz_t W_hh, a product with the transpose of W_hh^T
  const StepProduct weight_t(weight_hh.t(), rows_per_product(N, weight_bytes));
  at::Tensor dh = d_h.clone(), dc = d_c.clone();
  at::Tensor da = at::empty({T, N, G}, gates.options());
  // without layer norm on the product, or on the input, its gradient is da itself
  at::Tensor dz = gain_z.numel() ? at::empty({T, N, G}, gates.options()) : da;
  at::Tensor dx = gain_x.numel() ? at::empty({T, N, G}, gates.options()) : da;
  at::Tensor dy = d_outputs.contiguous();
  const SumOffsets offsets = sum_offsets(H, gain_x, bias_x, gain_z, gain_c, bias_c, peephole);
  const ThreadSums sums(offsets.width, gates);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_loop_backward", [&] {
    const auto w = weights_of<scalar_t>(gain_x, bias_x, peephole, gain_z, gain_c, bias_c, keep,
                                        zoneout, mask);
    using P = RowPointer<scalar_t>;
    const P dy_ = rows_of<scalar_t>(dy, H), dh_ = rows_of<scalar_t>(dh, H),
            dc_ = rows_of<scalar_t>(dc, H), c_prev_ = rows_of<scalar_t>(c_prev, H),
            gates_ = rows_of<scalar_t>(gates, G), c_new_ = rows_of<scalar_t>(c_new, H),
            normal_z_ = rows_of<scalar_t>(normal_z, G), rstd_z_ = rows_of<scalar_t>(rstd_z, 1),
            normal_c_ = rows_of<scalar_t>(normal_c, H), rstd_c_ = rows_of<scalar_t>(rstd_c, 1),
            k_ = rows_of<scalar_t>(k, H), normal_x_ = rows_of<scalar_t>(normal_x, G),
            rstd_x_ = rows_of<scalar_t>(rstd_x, 1), da_ = rows_of<scalar_t>(da, G),
            dx_ = rows_of<scalar_t>(dx, G), dz_ = rows_of<scalar_t>(dz, G);
    auto rows = [&](int64_t t, int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(6 * H);
      const WeightSums<scalar_t> mine = offsets.in(sums.mine<scalar_t>());
      for (int64_t n = begin; n < end; ++n) {
        const int64_t row = t * N + n;
        backward_row<scalar_t>(w, H, t, N, n, dy_.at(row), dh_.at(n), dc_.at(n), c_prev_.at(row),
                               gates_.at(row), c_new_.at(row), normal_z_.at(row),
                               rstd_z_.at(row), normal_c_.at(row), rstd_c_.at(row), k_.at(row),
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
          dc,
          d_weight,
          sums.total(offsets.peephole, 3 * H),
          sums.total(offsets.gain_z, G),
          sums.total(offsets.gain_c, H),
          sums.total(offsets.bias_c, H),
          sums.total(offsets.gain_x, G),
          sums.total(offsets.bias_x, G)};
}
