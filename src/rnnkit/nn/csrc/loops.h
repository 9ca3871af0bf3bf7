// The compiled time loops, one direction of one layer each; absent options are empty tensors.
// With gain_x, x_proj is the bare product x W_ih^T and the loop applies its layer norm and the
// input biases bias_x row by row.
// A forward pass returns (outputs, final state..., saved...); with save false (inference) the
// saved tensors hold one step only, so memory does not grow with T. A backward pass takes the
// gradients of the outputs and final state, the weights and the saved tensors, and returns
// (d x_proj, d initial state..., d W_hh, d of each optional weight; empty where absent).
#pragma once

#include <torch/extension.h>

#include <vector>

std::vector<at::Tensor> lstm_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& c0,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, bool save);

std::vector<at::Tensor> lstm_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& d_c,
    const at::Tensor& weight_hh, const at::Tensor& peephole, const at::Tensor& gain_z,
    const at::Tensor& gain_c, const at::Tensor& bias_c, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, const at::Tensor& visible, const at::Tensor& c_prev,
    const at::Tensor& gates, const at::Tensor& c_new, const at::Tensor& normal_z,
    const at::Tensor& rstd_z, const at::Tensor& normal_c, const at::Tensor& rstd_c,
    const at::Tensor& k, const at::Tensor& normal_x, const at::Tensor& rstd_x);

std::vector<at::Tensor> gru_loop_forward(
    const at::Tensor& x_proj, const at::Tensor& h0, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, bool save);

std::vector<at::Tensor> gru_loop_backward(
    const at::Tensor& d_outputs, const at::Tensor& d_h, const at::Tensor& weight_hh,
    const at::Tensor& bias_hh, const at::Tensor& gain_z, const at::Tensor& gain_x,
    const at::Tensor& bias_x, const at::Tensor& keep, const at::Tensor& zoneout,
    const at::Tensor& mask, const at::Tensor& visible, const at::Tensor& gates,
    const at::Tensor& b_n, const at::Tensor& normal_z, const at::Tensor& rstd_z,
    const at::Tensor& normal_x, const at::Tensor& rstd_x);
