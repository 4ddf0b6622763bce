/* AMX (tiles with bf16 dot products): a tile kernel for bf16 inputs. */
#ifndef TPF_GEMM_KERNELS_AMX_H
#define TPF_GEMM_KERNELS_AMX_H

#include "gemm/kernel.h"

extern const tpf_gemm_kernel_t tpf_kernel_amx_bf16;

#endif
