// The loops keep twelve independent accumulators so that the FMA units never wait for a
// result: an FMA has a latency of 4–5 cycles and current cores issue two a cycle, so fewer
// than ten chains in flight would measure the latency, not the throughput.

#include "fma.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static double fma_avx2(int64_t n, float m, float c) {
  const __m256 vm = _mm256_set1_ps(m), vc = _mm256_set1_ps(c);
  __m256 a[CPUPEAK_CHAINS];
  for (int j = 0; j < CPUPEAK_CHAINS; j++) a[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < CPUPEAK_CHAINS; j++) a[j] = _mm256_fmadd_ps(a[j], vm, vc);
  }
  float lanes[8];
  double sum = 0;
  for (int j = 0; j < CPUPEAK_CHAINS; j++) {
    _mm256_storeu_ps(lanes, a[j]);
    for (int k = 0; k < 8; k++) sum += lanes[k];
  }
  return sum;
}

__attribute__((target("avx512f"))) static double fma_avx512(int64_t n, float m, float c) {
  const __m512 vm = _mm512_set1_ps(m), vc = _mm512_set1_ps(c);
  __m512 a[CPUPEAK_CHAINS];
  for (int j = 0; j < CPUPEAK_CHAINS; j++) a[j] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < CPUPEAK_CHAINS; j++) a[j] = _mm512_fmadd_ps(a[j], vm, vc);
  }
  float lanes[16];
  double sum = 0;
  for (int j = 0; j < CPUPEAK_CHAINS; j++) {
    _mm512_storeu_ps(lanes, a[j]);
    for (int k = 0; k < 16; k++) sum += lanes[k];
  }
  return sum;
}

int cpupeak_lanes(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 16;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
  return 0;
}

double cpupeak_fma(int lanes, int64_t n, float m, float c) {
  switch (lanes) {
    case 16:
      return fma_avx512(n, m, c);
    case 8:
      return fma_avx2(n, m, c);
  }
  return -1;
}

#else

int cpupeak_lanes(void) { return 0; }
double cpupeak_fma(int lanes, int64_t n, float m, float c) { return -1; }

#endif
