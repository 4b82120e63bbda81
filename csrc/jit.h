/* TorchScript modules saved by torch.jit.save: load and run forward. */
#ifndef CSAD_JIT_H
#define CSAD_JIT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* device_type/device_index as in c10::Device; device_type < 0 keeps the saved devices. */
TorchStatus torch_jit_load(const char *path, int device_type, int device_index, TorchModule **out) TORCH_NOEXCEPT;
void torch_jit_free(TorchModule *m) TORCH_NOEXCEPT;
TorchStatus torch_jit_eval(TorchModule *m, int eval) TORCH_NOEXCEPT;
/* Calls method (usually "forward") with tensor inputs; tensor results (flattened from tuples and
 * lists) go to outs. */
TorchStatus torch_jit_call(TorchModule *m, const char *method, TorchTensor *const *inputs, int ninputs, int mode,
                           TorchTensor **outs, int maxouts, int *nouts) TORCH_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
