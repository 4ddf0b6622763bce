/* The portable kernels: plain C, the specification of the contract in
 * kernel.h and the fallback on every CPU. */
#ifndef TPF_GEMM_UKERNEL_PORTABLE_H
#define TPF_GEMM_UKERNEL_PORTABLE_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_portable_f32;
/* The bf16-pairs format in plain C: no ISA uses it; it specifies the
 * format (tests run it as an ISA of its own). */
extern const tpf_gemm_kernel_t tpf_kernel_portable_bf16;

/* tpf_hand_over_fn as memcpy (never streamed). */
void tpf_hand_over_portable(void *dst, const void *src, size_t bytes, int stream);

#endif
