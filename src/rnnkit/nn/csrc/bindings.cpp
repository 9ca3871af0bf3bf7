// The Python module of the compiled loops (rnnkit.nn.compiled_loop builds and loads it).
#include "loops.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_loop_forward, "LSTM time loop, forward");
  m.def("lstm_backward", &lstm_loop_backward, "LSTM time loop, backward");
  m.def("gru_forward", &gru_loop_forward, "GRU time loop, forward");
  m.def("gru_backward", &gru_loop_backward, "GRU time loop, backward");
}
