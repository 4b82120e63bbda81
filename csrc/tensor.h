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
                                   TorchTensor **out) TORCH_NOEXCEPT;
/* The memory of a dense, contiguous CPU tensor that starts its storage: *data (NULL when it has
 * no elements) and *nbytes. Valid while the tensor lives and is not resized; lets the caller
 * fill a tensor it just allocated straight from a file, without a copy in between. */
TorchStatus torch_tensor_data(TorchTensor *t, void **data, size_t *nbytes) TORCH_NOEXCEPT;
/* Copies the tensor's values, made contiguous and moved to the CPU, into dst (nbytes must match). */
TorchStatus torch_tensor_copy_to(TorchTensor *t, void *dst, size_t nbytes) TORCH_NOEXCEPT;
void torch_tensor_free(TorchTensor *t) TORCH_NOEXCEPT;
/* A second handle to the same tensor (shares storage and autograd identity); NULL when t is NULL
 * or the handle cannot be allocated. */
TorchTensor *torch_tensor_share(TorchTensor *t) TORCH_NOEXCEPT;

/* Metadata. A NULL handle, an undefined tensor (an operator's "no result") or a tensor whose
 * metadata LibTorch refuses to report (nested tensors have no sizes) reads as: dim -1, sizes
 * failing with -1, dtype -1, device type -1, flags 0. */
int torch_tensor_dim(TorchTensor *t) TORCH_NOEXCEPT;
/* Writes the ndim sizes to shape and returns 0, or returns -1 (shape untouched) when the tensor
 * has no sizes or not exactly ndim dimensions. */
int torch_tensor_sizes(TorchTensor *t, int64_t *shape, int ndim) TORCH_NOEXCEPT;
int torch_tensor_dtype(TorchTensor *t) TORCH_NOEXCEPT;
void torch_tensor_device(TorchTensor *t, int *type, int *index) TORCH_NOEXCEPT;
int torch_tensor_requires_grad(TorchTensor *t) TORCH_NOEXCEPT;
int torch_tensor_is_contiguous(TorchTensor *t) TORCH_NOEXCEPT;
/* Whether t is a oneDNN (to_mkldnn) tensor. */
int torch_tensor_is_mkldnn(TorchTensor *t) TORCH_NOEXCEPT;
int torch_tensor_same(TorchTensor *a, TorchTensor *b) TORCH_NOEXCEPT;

/* Autograd. */
TorchStatus torch_tensor_set_requires_grad(TorchTensor *t, int requires_grad) TORCH_NOEXCEPT;
TorchStatus torch_tensor_backward(TorchTensor *t, TorchTensor *grad, int retain_graph) TORCH_NOEXCEPT;
/* *out is NULL when the tensor has no gradient. */
TorchStatus torch_tensor_grad(TorchTensor *t, TorchTensor **out) TORCH_NOEXCEPT;
TorchStatus torch_tensor_zero_grad(TorchTensor *t) TORCH_NOEXCEPT;
/* Makes dst refer to src's tensor (same storage, layout and autograd identity); src stays valid.
 * Lets a module swap a parameter for a re-laid-out copy without changing its handle. */
void torch_tensor_replace(TorchTensor *dst, TorchTensor *src) TORCH_NOEXCEPT;
/* Copies src into dst in place without recording history (loading weights into parameters). */
TorchStatus torch_tensor_assign(TorchTensor *dst, TorchTensor *src) TORCH_NOEXCEPT;

/* Runtime. */
TorchStatus torch_manual_seed(uint64_t seed) TORCH_NOEXCEPT;
void torch_set_num_threads(int n) TORCH_NOEXCEPT;
int torch_get_num_threads(void) TORCH_NOEXCEPT;
/* Bytes the C allocator has handed out and not yet been given back (glibc's mallinfo2: heap
 * blocks in use plus mapped blocks), over every arena; -1 where the C library cannot tell. */
int64_t torch_native_heap_bytes(void) TORCH_NOEXCEPT;
int torch_cuda_is_available(void) TORCH_NOEXCEPT;
int torch_cuda_device_count(void) TORCH_NOEXCEPT;
/* Version of the LibTorch the shim was built against, e.g. "1.13.1". */
const char *torch_version(void) TORCH_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
