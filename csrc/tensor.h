/* Tensors: creation from host memory, copies back, metadata, autograd handles, runtime settings. */
#ifndef CSAD_TENSOR_H
#define CSAD_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Copies nbytes of host data into a new CPU tensor of the given c10::ScalarType and shape. */
TorchStatus torch_tensor_from_data(const void *data, size_t nbytes, int dtype, const int64_t *shape, int ndim,
                                   TorchTensor **out);
/* Copies the tensor's values, made contiguous and moved to the CPU, into dst (nbytes must match). */
TorchStatus torch_tensor_copy_to(TorchTensor *t, void *dst, size_t nbytes);
void torch_tensor_free(TorchTensor *t);
/* A second handle to the same tensor (shares storage and autograd identity). */
TorchTensor *torch_tensor_share(TorchTensor *t);

int torch_tensor_dim(TorchTensor *t);
void torch_tensor_shape(TorchTensor *t, int64_t *shape);
int torch_tensor_dtype(TorchTensor *t);
void torch_tensor_device(TorchTensor *t, int *type, int *index);
int torch_tensor_requires_grad(TorchTensor *t);
int torch_tensor_is_contiguous(TorchTensor *t);
int torch_tensor_same(TorchTensor *a, TorchTensor *b);

/* Autograd. */
TorchStatus torch_tensor_set_requires_grad(TorchTensor *t, int requires_grad);
TorchStatus torch_tensor_backward(TorchTensor *t, TorchTensor *grad, int retain_graph);
/* *out is NULL when the tensor has no gradient. */
TorchStatus torch_tensor_grad(TorchTensor *t, TorchTensor **out);
TorchStatus torch_tensor_zero_grad(TorchTensor *t);
/* Makes dst refer to src's tensor (same storage, layout and autograd identity); src stays valid.
 * Lets a module swap a parameter for a re-laid-out copy without changing its handle. */
void torch_tensor_replace(TorchTensor *dst, TorchTensor *src);
/* Copies src into dst in place without recording history (loading weights into parameters). */
TorchStatus torch_tensor_assign(TorchTensor *dst, TorchTensor *src);

/* Runtime. */
TorchStatus torch_manual_seed(uint64_t seed);
void torch_set_num_threads(int n);
int torch_get_num_threads(void);
int torch_cuda_is_available(void);
int torch_cuda_device_count(void);
/* Version of the LibTorch the shim was built against, e.g. "1.13.1". */
const char *torch_version(void);

#ifdef __cplusplus
}
#endif

#endif
