/* The registry of instruction sets: chosen once per process, by TPF_ISA or
 * by what the CPU (and the OS) can run, best first. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/cpu.h"
#include "common/env.h"
#include "common/status.h"
#include "kernel.h"
#include "kernels/amx/kernels_amx.h"
#include "kernels/avx2/kernels_avx2.h"
#include "kernels/avx512/kernels_avx512.h"
#include "kernels/avx512_bf16/kernels_avx512_bf16.h"
#include "kernels/portable/ukernel_portable.h"

#define NEEDS_AVX2 (TPF_CPU_AVX2 | TPF_CPU_FMA | TPF_CPU_F16C)
#define NEEDS_AVX512 (NEEDS_AVX2 | TPF_CPU_AVX512F | TPF_CPU_AVX512BW | TPF_CPU_AVX512VL)
#define ALL(k) {&k, &k, &k}

static const tpf_gemm_isa_t isas[] = {
    /* Best first. Kernels indexed by input dtype: fp16, bf16, fp32. */
#ifdef TPF_HAVE_AMX
    {"amx", NEEDS_AVX512 | TPF_CPU_AVX512_BF16 | TPF_CPU_AMX_BF16,
     {&tpf_kernel_avx512_f32, &tpf_kernel_amx_bf16, &tpf_kernel_avx512_f32}, tpf_hand_over_avx2},
#endif
    {"avx512_bf16", NEEDS_AVX512 | TPF_CPU_AVX512_BF16,
     {&tpf_kernel_avx512_f32, &tpf_kernel_avx512_bf16, &tpf_kernel_avx512_f32}, tpf_hand_over_avx2},
    {"avx512", NEEDS_AVX512, ALL(tpf_kernel_avx512_f32), tpf_hand_over_avx2},
    {"avx2", NEEDS_AVX2, ALL(tpf_kernel_avx2_f32), tpf_hand_over_avx2},
    {"portable", 0, ALL(tpf_kernel_portable_f32), tpf_hand_over_portable},
};
enum { ISA_COUNT = sizeof isas / sizeof isas[0] };

static char built_names[256];
static pthread_once_t built_once = PTHREAD_ONCE_INIT;

static void list_built(void) {
  size_t used = 0;
  for (int i = 0; i < ISA_COUNT; i++)
    used += (size_t)snprintf(built_names + used, sizeof built_names - used, "%s%s", i ? " " : "",
                             isas[i].name);
}

const char *tpf_gemm_kernels_built(void) {
  pthread_once(&built_once, list_built);
  return built_names;
}

tpf_status_t tpf_gemm_isa_find(const char *name, const char *source, const tpf_gemm_isa_t **isa) {
  unsigned have = tpf_cpu_flags();
  for (int i = 0; i < ISA_COUNT; i++) {
    if (strcmp(isas[i].name, name) != 0) continue;
    if ((isas[i].cpu_needs & have) != isas[i].cpu_needs)
      return tpf_fail(TPF_ERR_UNSUPPORTED, "%s=%s: this CPU lacks the instructions it needs (found: %s)",
                      source, name, tpf_cpu_features());
    *isa = &isas[i];
    return TPF_OK;
  }
  return tpf_fail(TPF_ERR_INVALID, "%s=%s: no such instruction set; choose auto or one of: %s", source,
                  name, tpf_gemm_kernels_built());
}

static const tpf_gemm_isa_t *selected;
static tpf_status_t selection_status;
static char selection_error[512];
static pthread_once_t selection_once = PTHREAD_ONCE_INIT;

static void select_isa(void) {
  const char *wanted = tpf_env_string(TPF_ENV_ISA);
  if (strcmp(wanted, "auto") != 0) {
    selection_status = tpf_gemm_isa_find(wanted, "TPF_ISA", &selected);
    if (!selected) snprintf(selection_error, sizeof selection_error, "%s", tpf_last_error());
    return;
  }
  unsigned have = tpf_cpu_flags();
  for (int i = 0; i < ISA_COUNT && !selected; i++)
    if ((isas[i].cpu_needs & have) == isas[i].cpu_needs) selected = &isas[i];
}

tpf_status_t tpf_gemm_isa_select(const tpf_gemm_isa_t **isa) {
  pthread_once(&selection_once, select_isa);
  if (!selected) return tpf_fail_text(selection_status, selection_error);
  *isa = selected;
  return TPF_OK;
}

const char *tpf_gemm_kernel(void) {
  const tpf_gemm_isa_t *isa = NULL;
  return tpf_gemm_isa_select(&isa) == TPF_OK ? isa->name : NULL;
}
