/* Calls any ATen operator by its schema name ("aten::conv2d") through the dispatcher, the path
 * Python's torch functions take, so results and autograd are PyTorch's own. */
#ifndef CSAD_DISPATCH_H
#define CSAD_DISPATCH_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Argument kinds. Payloads: INT/BOOL/DTYPE/SCALAR_INT use a; DOUBLE/SCALAR_DOUBLE use dpool[a];
 * INTS use ipool[a..a+b); DOUBLES use dpool[a..a+b); TENSOR uses tpool[a] (NULL means None) TORCH_NOEXCEPT;
 * TENSORS and OPT_TENSORS use tpool[a..a+b) (NULL entries are None in OPT_TENSORS); STRING uses
 * spool[a..a+b); DEVICE uses a = device type, b = index; DEFAULT takes the schema's default. */
enum {
  TORCH_ARG_NONE = 0,
  TORCH_ARG_DEFAULT = 1,
  TORCH_ARG_TENSOR = 2,
  TORCH_ARG_INT = 3,
  TORCH_ARG_DOUBLE = 4,
  TORCH_ARG_BOOL = 5,
  TORCH_ARG_INTS = 6,
  TORCH_ARG_DOUBLES = 7,
  TORCH_ARG_TENSORS = 8,
  TORCH_ARG_OPT_TENSORS = 9,
  TORCH_ARG_STRING = 10,
  TORCH_ARG_SCALAR_INT = 11,
  TORCH_ARG_SCALAR_DOUBLE = 12,
  TORCH_ARG_DTYPE = 13,
  TORCH_ARG_DEVICE = 14
};

/* Looks an operator up once; the handle lives for the whole process. */
TorchStatus torch_op_find(const char *name, const char *overload, TorchOp **out) TORCH_NOEXCEPT;

/* Runs op with nargs arguments (missing trailing ones take their defaults) under mode. Tensor
 * results (also those inside returned lists/tuples) are written to outs; *nouts says how many.
 * With maxouts 0 no handle is made (outs may be NULL) and *nouts is the number of values the
 * operator returned: for in-place operators, whose result is an operand the caller holds. */
TorchStatus torch_op_call(TorchOp *op, int nargs, const int32_t *kinds, const int64_t *a, const int64_t *b,
                          const int64_t *ipool, const double *dpool, TorchTensor *const *tpool, const char *spool,
                          int mode, TorchTensor **outs, int maxouts, int *nouts) TORCH_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
