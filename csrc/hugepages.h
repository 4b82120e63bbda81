/* Large CPU tensors on transparent huge pages (hugepages.cpp). */
#ifndef CSAD_HUGEPAGES_H
#define CSAD_HUGEPAGES_H

#include <stdint.h>

#include "common.h"

/* glibc's mmap threshold as the shim sets it at start-up (tensor.cpp), and the size from which
 * tensors are mapped on huge pages: the blocks that are mapped and unmapped either way. */
#define CSAD_MMAP_THRESHOLD (16 << 20)

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of tensor storage mapped on huge pages and not yet unmapped (0 where they are off). */
int64_t csad_hugepage_mapped_bytes(void) TORCH_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
