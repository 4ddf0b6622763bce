/* The environment table, log levels, CPU features and the kernel choice.
 * Usage: test_env [plain | isa-unknown | isa-portable]; the ISA modes run
 * with TPF_ISA set by CTest, since the kernel is chosen once per process. */
#include <stdlib.h>

#include "../test.h"
#include "common/cpu.h"
#include "common/env.h"
#include "gemm/kernel.h"
#include "common/log.h"

static void check_table(void) {
  CHECK(tpf_setting_count() == TPF_ENV_COUNT, "%d settings", tpf_setting_count());
  for (int i = 0; i < tpf_setting_count(); i++) {
    const tpf_setting_t *s = tpf_setting_get(i);
    CHECK(s && strncmp(s->name, "TPF_", 4) == 0 && s->default_value && s->meaning && *s->meaning,
          "setting %d is incomplete", i);
  }
  CHECK(tpf_setting_get(-1) == NULL && tpf_setting_get(TPF_ENV_COUNT) == NULL, "out of range");
  setenv("TPF_SPIN_US", "7", 1);
  CHECK(strcmp(tpf_setting_get(TPF_ENV_SPIN_US)->value, "7") == 0, "value follows the environment");
  int v = 0;
  CHECK(tpf_env_int(TPF_ENV_SPIN_US, 0, 100, &v) && v == 7, "parsed %d", v);
  setenv("TPF_SPIN_US", "7x", 1);
  CHECK(!tpf_env_int(TPF_ENV_SPIN_US, 0, 100, &v), "7x taken as an integer");
  tpf_comm_t *c = NULL;
  CHECK_STATUS(tpf_comm_init_all(&c, 1, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_SPIN_US='7x' must be an integer in [0, 1073741824]") != NULL, "%s",
        tpf_last_error());
  setenv("TPF_SPIN_US", "101", 1);
  CHECK(!tpf_env_int(TPF_ENV_SPIN_US, 0, 100, &v), "101 taken within [0, 100]");
  unsetenv("TPF_SPIN_US");
  CHECK(tpf_setting_get(TPF_ENV_SPIN_US)->value == NULL, "unset");
  CHECK(tpf_env_int(TPF_ENV_SPIN_US, 0, 100, &v) && v == 50, "default %d", v);
  /* a log level that does not exist is refused, not ignored */
  setenv("TPF_LOG", "verbose", 1);
  CHECK_STATUS(tpf_comm_init_all(&c, 1, NULL), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "TPF_LOG='verbose' must be off, warn, info, debug or trace") != NULL, "%s",
        tpf_last_error());
  unsetenv("TPF_LOG");
}

static void check_log_levels(void) {
  CHECK(tpf_log_parse("off") == TPF_LOG_OFF && tpf_log_parse("warn") == TPF_LOG_WARN &&
            tpf_log_parse("info") == TPF_LOG_INFO && tpf_log_parse("debug") == TPF_LOG_DEBUG &&
            tpf_log_parse("trace") == TPF_LOG_TRACE,
        "level names");
  CHECK(tpf_log_parse("loud") == -1, "unknown level");
}

/* Every ISA the CPU has can be found; one it lacks is refused by name. */
static void check_isa_choice(void) {
  const tpf_gemm_isa_t *isa = NULL;
  CHECK_STATUS(tpf_gemm_isa_find("portable", "TPF_ISA", &isa), TPF_OK);
  CHECK_STATUS(tpf_gemm_isa_find("nope", "cfg->isa", &isa), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->isa=nope: no such instruction set; choose auto or one of: ") != NULL,
        "%s", tpf_last_error());
  tpf_cpu_restrict(TPF_CPU_SSE2); /* play a CPU without AVX */
  CHECK_STATUS(tpf_gemm_isa_find("avx2", "TPF_ISA", &isa), TPF_ERR_UNSUPPORTED);
  CHECK(strstr(tpf_last_error(), "TPF_ISA=avx2: this CPU lacks the instructions it needs") != NULL, "%s",
        tpf_last_error());
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.isa = "avx512";
  tpf_comm_t *c = NULL;
  CHECK_STATUS(tpf_comm_init_all(&c, 1, &cfg), TPF_ERR_UNSUPPORTED);
  tpf_cpu_restrict(~0u);
  cfg.isa = "portable";
  CHECK_STATUS(tpf_comm_init_all(&c, 1, &cfg), TPF_OK);
  tpf_comm_destroy(c);
  cfg.isa = "avx9000";
  CHECK_STATUS(tpf_comm_init_all(&c, 1, &cfg), TPF_ERR_INVALID);
  CHECK(strstr(tpf_last_error(), "cfg->isa=avx9000") != NULL, "%s", tpf_last_error());
}

static void check_cpu(void) {
  const char *f = tpf_cpu_features();
  CHECK(f && *f, "features: '%s'", f ? f : "(null)");
#if defined(__x86_64__)
  CHECK(strstr(f, "sse2") != NULL, "x86-64 always has sse2: %s", f);
#endif
  CHECK(strstr(tpf_gemm_kernels_built(), "portable") != NULL, "built: %s", tpf_gemm_kernels_built());
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "plain";
  if (strcmp(mode, "isa-unknown") == 0) {
    CHECK(tpf_gemm_kernel() == NULL, "TPF_ISA=%s was accepted", getenv("TPF_ISA"));
    CHECK(strstr(tpf_last_error(), "TPF_ISA=avx9000: no such instruction set") != NULL, "%s", tpf_last_error());
    tpf_comm_t *c = NULL;
    CHECK_STATUS(tpf_comm_init_all(&c, 1, NULL), TPF_ERR_INVALID);
    CHECK(strstr(tpf_last_error(), "TPF_ISA=") != NULL, "%s", tpf_last_error());
  } else if (strcmp(mode, "isa-portable") == 0) {
    CHECK(tpf_gemm_kernel() && strcmp(tpf_gemm_kernel(), "portable") == 0, "kernel %s",
          tpf_gemm_kernel() ? tpf_gemm_kernel() : tpf_last_error());
  } else {
    check_table();
    check_log_levels();
    check_cpu();
    check_isa_choice();
    CHECK(tpf_gemm_kernel() != NULL, "a kernel is chosen by default: %s", tpf_last_error());
    CHECK(strcmp(tpf_version(), "0.1.0") == 0, "version %s", tpf_version());
  }
  return test_summary();
}
