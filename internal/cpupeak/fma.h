#ifndef CSAD_CPUPEAK_FMA_H
#define CSAD_CPUPEAK_FMA_H

#include <stdint.h>

#define CPUPEAK_CHAINS 12

// cpupeak_lanes is the float32 lanes of the widest FMA kernel this CPU runs (16: AVX-512F,
// 8: AVX2 with FMA), 0 where there is none.
int cpupeak_lanes(void);

// cpupeak_fma runs n iterations of a = a·m + c on CPUPEAK_CHAINS vectors of lanes float32,
// from a = 0, and returns the sum of every lane (-1 for a kernel this CPU lacks): with m = 1
// and c = 1 it is chains·lanes·n exactly while n < 2^24, which proves every FMA ran.
double cpupeak_fma(int lanes, int64_t n, float m, float c);

#endif
