/* CPU features, detected once with CPUID and XGETBV (the OS must save the
 * wide registers for a feature to count). */
#ifndef TPF_COMMON_CPU_H
#define TPF_COMMON_CPU_H

typedef enum tpf_cpu_feature {
  TPF_CPU_SSE2 = 1u << 0,
  TPF_CPU_AVX2 = 1u << 1,
  TPF_CPU_FMA = 1u << 2,
  TPF_CPU_F16C = 1u << 3,
  TPF_CPU_AVX512F = 1u << 4,
  TPF_CPU_AVX512BW = 1u << 5,
  TPF_CPU_AVX512VL = 1u << 6,
  TPF_CPU_AVX512_BF16 = 1u << 7,
  TPF_CPU_AVX512_FP16 = 1u << 8,
  TPF_CPU_AMX_BF16 = 1u << 9 /* AMX tiles with bf16 dot products, and the
                                kernel's leave to use them (Linux >= 5.16) */
} tpf_cpu_feature_t;

/* Bit set of tpf_cpu_feature_t. */
unsigned tpf_cpu_flags(void);

/* Hides every feature not in `keep` from tpf_cpu_flags (for tests that
 * play an older CPU). */
void tpf_cpu_restrict(unsigned keep);

/* The cores this process may run on (its affinity mask), at least 1. */
int tpf_cpu_count(void);

#endif
