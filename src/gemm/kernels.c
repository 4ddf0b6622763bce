/* The registry of micro-kernels: chosen once per process, by TPF_ISA or by
 * what the CPU (and the OS) can run, best first. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/cpu.h"
#include "common/env.h"
#include "common/status.h"
#include "kernel.h"
#include "kernels/portable/ukernel_portable.h"

static const tpf_gemm_kernel_t kernels[] = {
    /* Best first. */
    {"portable", 0, TPF_PORTABLE_MR, TPF_PORTABLE_NR, 256, 64, 1024, 256, tpf_ukernel_portable},
};
enum { KERNEL_COUNT = sizeof kernels / sizeof kernels[0] };

/* The kernel named `name`, or NULL with the error recorded in *status. */
static const tpf_gemm_kernel_t *lookup(const char *name, tpf_status_t *status) {
  unsigned have = tpf_cpu_flags();
  for (int i = 0; i < KERNEL_COUNT; i++) {
    if (strcmp(kernels[i].name, name) != 0) continue;
    if ((kernels[i].cpu_needs & have) != kernels[i].cpu_needs) {
      *status = tpf_fail(TPF_ERR_UNSUPPORTED,
                         "TPF_ISA=%s: this CPU lacks the instructions it needs (found: %s)",
                         name, tpf_cpu_features());
      return NULL;
    }
    return &kernels[i];
  }
  *status = tpf_fail(TPF_ERR_INVALID, "TPF_ISA=%s: no such kernel; choose auto or one of: %s",
                     name, tpf_gemm_kernels_built());
  return NULL;
}

const tpf_gemm_kernel_t *tpf_gemm_kernel_by_name(const char *name) {
  tpf_status_t status;
  return lookup(name, &status);
}

static const tpf_gemm_kernel_t *selected;
static tpf_status_t selection_status;
static char selection_error[512];
static pthread_once_t selection_once = PTHREAD_ONCE_INIT;

static void select_kernel(void) {
  const char *wanted = tpf_env_string(TPF_ENV_ISA);
  if (strcmp(wanted, "auto") != 0) {
    selected = lookup(wanted, &selection_status);
    if (!selected) snprintf(selection_error, sizeof selection_error, "%s", tpf_last_error());
    return;
  }
  unsigned have = tpf_cpu_flags();
  for (int i = 0; i < KERNEL_COUNT && !selected; i++)
    if ((kernels[i].cpu_needs & have) == kernels[i].cpu_needs) selected = &kernels[i];
}

tpf_status_t tpf_gemm_kernel_select(const tpf_gemm_kernel_t **kernel) {
  pthread_once(&selection_once, select_kernel);
  if (!selected) return tpf_fail_text(selection_status, selection_error);
  *kernel = selected;
  return TPF_OK;
}

const char *tpf_gemm_kernel(void) {
  const tpf_gemm_kernel_t *k = NULL;
  return tpf_gemm_kernel_select(&k) == TPF_OK ? k->name : NULL;
}

static char built_names[256];
static pthread_once_t built_once = PTHREAD_ONCE_INIT;

static void list_built(void) {
  size_t used = 0;
  for (int i = 0; i < KERNEL_COUNT; i++)
    used += (size_t)snprintf(built_names + used, sizeof built_names - used, "%s%s",
                             i ? " " : "", kernels[i].name);
}

const char *tpf_gemm_kernels_built(void) {
  pthread_once(&built_once, list_built);
  return built_names;
}
