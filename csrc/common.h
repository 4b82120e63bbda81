/* Shared declarations of the csad-go LibTorch shim. Plain C: never include LibTorch here. */
#ifndef CSAD_COMMON_H
#define CSAD_COMMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes carried by TorchStatus.code; mirrored by torch.Code in Go. */
enum {
  TORCH_OK = 0,
  TORCH_ERR_INVALID = 1,         /* bad argument: shape, dtype, value */
  TORCH_ERR_INDEX = 2,           /* index out of range */
  TORCH_ERR_TYPE = 3,            /* wrong type of argument */
  TORCH_ERR_NOT_IMPLEMENTED = 4, /* op or dtype not supported by this LibTorch */
  TORCH_ERR_OUT_OF_MEMORY = 5,   /* allocation failed (host or device) */
  TORCH_ERR_IO = 6,              /* reading or writing a file failed */
  TORCH_ERR_INTERNAL = 7         /* anything else */
};

/* Every entry point that can fail returns a status. msg is NULL on success, else malloc'd and
 * owned by the caller (free it with free()). msg may also be NULL on failure, when not even the
 * message could be allocated: the code alone then describes the error. */
typedef struct TorchStatus {
  int code;
  char *msg;
} TorchStatus;

/* Every entry point is noexcept: no C++ exception may unwind into the Go (C) frames that call it.
 * Functions that can fail catch everything and return a status; the others cannot throw. Declaring
 * it makes the compiler hold the definitions to it (a stray throw terminates with a message
 * instead of corrupting the caller's stack). */
#ifdef __cplusplus
#define TORCH_NOEXCEPT noexcept
#else
#define TORCH_NOEXCEPT
#endif

/* Opaque handles: distinct incomplete types so Go sees one type per kind of object. */
typedef struct TorchTensor TorchTensor;
typedef struct TorchOp TorchOp;
typedef struct TorchModule TorchModule;

/* Grad modes applied inside one shim call (LibTorch keeps them per thread, Go moves goroutines
 * between threads, so no mode ever outlives a call). */
enum { TORCH_MODE_GRAD = 0, TORCH_MODE_NO_GRAD = 1, TORCH_MODE_INFERENCE = 2 };

#ifdef __cplusplus
}
#endif

#endif
