// The LSTM time loop of rnnkit's options torch's kernel lacks (layer norm, peepholes, zoneout,
// recurrent dropout), forward and backward, one direction of one layer; the driver and the
// shared math are in loop_common.h.
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
//   zoneout: s_new = q ⊙ s + (1 - q) ⊙ s'  q = p in evaluation, the 0/1 keep-draw in training
//   padding: a row past its length keeps h and c unchanged.
// Backward follows the same equations in reverse; see backward_row.

#include "loop_common.h"
#include "loops.h"

#include <vector>

namespace {

using namespace rnnkit_loops;

template <typename T> struct Weights {
  const T* peephole;     // (3H) w_ci, w_cf, w_co
  const T* gain_z;       // (4H) layer-norm gain of h W_hh^T
  const T* gain_c;       // (H)  layer-norm gain and bias of c'
  const T* bias_c;       // (H)
  const T* keep;         // (N, H) recurrent dropout
  Zoneout<T> zoneout;    // q for h then c
  const uint8_t* mask;   // (T, N) 1 at real steps
};

template <typename T> Weights<T> weights_of(
    const at::Tensor& peephole, const at::Tensor& gain_z, const at::Tensor& gain_c,
    const at::Tensor& bias_c, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask) {
  return {data_or_null<T>(peephole), data_or_null<T>(gain_z), data_or_null<T>(gain_c),
          data_or_null<T>(bias_c),   data_or_null<T>(keep),   zoneout_of<T>(zoneout),
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
  const T* q = w.zoneout.at(t, N, n);
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

template <typename T>
void backward_row(const Weights<T>& w, int64_t H, int64_t t, int64_t N, int64_t n,
                  const T* dy, T* dh, T* dc, const T* c_prev, const T* gates, const T* c_new,
                  const T* normal_z, T rstd_z, const T* normal_c, T rstd_c, const T* k,
                  T* da, T* dz, T* dk_pre, T* dc_new, T* dn) {
  const int64_t G = 4 * H;
  VECTORISE for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  if (padded(w.mask, t, N, n)) {  // the state passed through unchanged: so does its gradient
    VECTORISE for (int64_t j = 0; j < G; ++j) { da[j] = 0; dz[j] = 0; }
    VECTORISE for (int64_t j = 0; j < H; ++j) dk_pre[j] = 0;
    return;
  }
  const T* q = w.zoneout.at(t, N, n);
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
  Saved s{empty_or_none(save || keep.numel(), {S, N, H}, x_proj), at::empty({S, N, H}, options),
          at::empty({S, N, G}, options), at::empty({S, N, H}, options),
          empty_or_none(gain_z.numel(), {S, N, G}, x_proj),
          empty_or_none(gain_z.numel(), {S, N}, x_proj),
          empty_or_none(gain_c.numel(), {S, N, H}, x_proj),
          empty_or_none(gain_c.numel(), {S, N}, x_proj),
          at::empty({S, N, H}, options)};
  const at::Tensor weight_t = weight_hh.t().contiguous();  // (H, G): each step a plain product
  AT_DISPATCH_FLOATING_TYPES(x_proj.scalar_type(), "lstm_loop_forward", [&] {
    const auto w = weights_of<scalar_t>(peephole, gain_z, gain_c, bias_c, keep, zoneout, mask);
    at::Tensor z = at::empty({N, G}, options);
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      const at::Tensor& visible = s.visible;
      recurrent_product(h, keep, visible.numel() ? visible[save ? t : 0] : visible, weight_t, z,
                        begin, end);
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
    auto product = [&](int64_t t, int64_t begin, int64_t end) {
      recurrent_product_backward(dh, dz[t], weight_hh, keep, begin, end);
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
