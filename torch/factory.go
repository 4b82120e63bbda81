package torch

/*
#include "tensor.h"
#include "hugepages.h"
*/
import "C"

// Factories take the scope that will own the result first; nil means the caller owns it.

var (
	opZeros   = newOp("aten::zeros", "")
	opOnes    = newOp("aten::ones", "")
	opFull    = newOp("aten::full", "")
	opRandn   = newOp("aten::randn", "")
	opRand    = newOp("aten::rand", "")
	opRandint = newOp("aten::randint", "low")
	opArange  = newOp("aten::arange", "start_step")
	opEmpty   = newOp("aten::empty", "memory_format")
)

func factory(o *op, s *Scope, shape []int64, d DType) *Tensor {
	return o.call1(newArgs().in(s).ints(shape).dtype(d))
}

// Zeros is torch.zeros(shape, dtype=d).
func Zeros(s *Scope, shape []int64, d DType) *Tensor { return factory(opZeros, s, shape, d) }

// Ones is torch.ones(shape, dtype=d).
func Ones(s *Scope, shape []int64, d DType) *Tensor { return factory(opOnes, s, shape, d) }

// Empty is torch.empty(shape, dtype=d): uninitialised memory.
func Empty(s *Scope, shape []int64, d DType) *Tensor { return factory(opEmpty, s, shape, d) }

// Full is torch.full(shape, v, dtype=d).
func Full(s *Scope, shape []int64, v float64, d DType) *Tensor {
	return opFull.call1(newArgs().in(s).ints(shape).scalar(v).dtype(d))
}

// Randn is torch.randn(shape, dtype=d) from the default CPU generator.
func Randn(s *Scope, shape []int64, d DType) *Tensor { return factory(opRandn, s, shape, d) }

// Rand is torch.rand(shape, dtype=d).
func Rand(s *Scope, shape []int64, d DType) *Tensor { return factory(opRand, s, shape, d) }

// Randint is torch.randint(low, high, shape) as int64.
func Randint(s *Scope, low, high int64, shape []int64) *Tensor {
	return opRandint.call1(newArgs().in(s).i(low).i(high).ints(shape).dtype(Int64))
}

// Arange is torch.arange(start, end, step, dtype=d).
func Arange(s *Scope, start, end, step float64, d DType) *Tensor {
	return opArange.call1(newArgs().in(s).scalar(start).scalar(end).scalar(step).dtype(d))
}

// Scalar is a 0-dimensional tensor holding v (torch.tensor(v, dtype=d)).
func Scalar(s *Scope, v float64, d DType) *Tensor {
	return opFull.call1(newArgs().in(s).ints(nil).scalar(v).dtype(d))
}

// ManualSeed seeds every default generator, like torch.manual_seed: the following Randn, Rand,
// Randint, initialisations and dropout masks draw the same numbers as Python after the same seed.
func ManualSeed(seed uint64) error {
	return statusErr("ManualSeed", C.torch_manual_seed(C.uint64_t(seed)))
}

// SetNumThreads sets the number of threads LibTorch uses inside one operator
// (torch.set_num_threads). It applies to the whole process.
func SetNumThreads(n int) { C.torch_set_num_threads(C.int(n)) }

// NumThreads returns LibTorch's intra-op thread count.
func NumThreads() int { return int(C.torch_get_num_threads()) }

// NativeHeapBytes is the memory the C allocator has handed out and not yet taken back: the
// storage of every CPU tensor, LibTorch's and oneDNN's caches and any other C or C++
// allocation in the process, over every malloc arena, mapped blocks included (glibc's
// mallinfo2). Go's own heap is not in it. Unlike the RSS it does not count the free memory the
// allocator keeps, with one exception: the few small blocks each thread's cache (tcache)
// holds after a free still count as in use, a few hundred bytes that come and go;
// GLIBC_TUNABLES=glibc.malloc.tcache_count=0 makes the figure exact to the byte. ok is false
// where the C library cannot tell (not glibc 2.33 or later).
func NativeHeapBytes() (bytes int64, ok bool) {
	n := int64(C.torch_native_heap_bytes())
	return n, n >= 0
}

// HugePageBytes is the storage of CPU tensors mapped on transparent huge pages and not yet
// freed. Every tensor of 16 MiB or more gets its own mapping, aligned to 2 MiB and advised as
// huge pages, and is unmapped when freed, as glibc would map and unmap it: the kernel then
// faults it in 2 MiB at a time rather than 4 KiB (a paper-size forward pass at batch 8: 1.5–2
// million page faults and 5.3–6.6 s of system time a call before, 4,000 and 3.0 s after, the
// call 8–11 % faster, the peak RSS the same). 0 where the kernel's transparent huge pages are
// off ("never" in /sys/kernel/mm/transparent_hugepage/enabled) or CSAD_HUGEPAGES=0 was set when
// the process started: tensors are then LibTorch's default allocator's. NativeHeapBytes
// includes these bytes.
func HugePageBytes() int64 { return int64(C.csad_hugepage_mapped_bytes()) }

// CUDAAvailable reports whether the LibTorch in use was built with CUDA and sees a device.
func CUDAAvailable() bool { return C.torch_cuda_is_available() != 0 }

// CUDADeviceCount is the number of visible CUDA devices.
func CUDADeviceCount() int { return int(C.torch_cuda_device_count()) }

// Version is the version of the LibTorch the shim was built against.
func Version() string { return C.GoString(C.torch_version()) }
