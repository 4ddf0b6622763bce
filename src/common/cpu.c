#define _GNU_SOURCE
#include "cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tpfuse.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

/* Linux hands out the AMX tile data state only to a process that asks for
 * it (arch_prctl ARCH_REQ_XCOMP_PERM); a process that has not asked gets
 * SIGILL at its first tile instruction. Asked once, for the whole process. */
static int amx_permitted(void) {
#if defined(__linux__) && defined(__x86_64__)
  enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return 0;
#endif
}

static unsigned detect(void) {
  unsigned a, b, c, d, flags = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (d & (1u << 26)) flags |= TPF_CPU_SSE2;
  int osxsave = (c & (1u << 27)) != 0;
  unsigned leaf1_ecx = c;
  unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
  int os_ymm = (xcr0 & 0x6) == 0x6;      /* XMM and YMM state */
  int os_zmm = (xcr0 & 0xe6) == 0xe6;    /* plus opmask and ZMM state */
  if (!os_ymm) return flags;
  if (leaf1_ecx & (1u << 12)) flags |= TPF_CPU_FMA;
  if (leaf1_ecx & (1u << 29)) flags |= TPF_CPU_F16C;
  if (__get_cpuid_max(0, NULL) < 7) return flags;
  __cpuid_count(7, 0, a, b, c, d);
  if (b & (1u << 5)) flags |= TPF_CPU_AVX2;
  if (!os_zmm) return flags;
  if (b & (1u << 16)) flags |= TPF_CPU_AVX512F;
  if (b & (1u << 30)) flags |= TPF_CPU_AVX512BW;
  if (b & (1u << 31)) flags |= TPF_CPU_AVX512VL;
  if (d & (1u << 23)) flags |= TPF_CPU_AVX512_FP16;
  if ((d & (1u << 22)) && (d & (1u << 24)) && (xcr0 & 0x60000) == 0x60000 && amx_permitted())
    flags |= TPF_CPU_AMX_BF16;
  __cpuid_count(7, 1, a, b, c, d);
  if (a & (1u << 5)) flags |= TPF_CPU_AVX512_BF16;
  return flags;
}
#else
static unsigned detect(void) { return 0; }
#endif

static unsigned cached;
static char names[160];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
  static const struct { unsigned bit; const char *name; } list[] = {
      {TPF_CPU_SSE2, "sse2"},         {TPF_CPU_AVX2, "avx2"},
      {TPF_CPU_FMA, "fma"},           {TPF_CPU_F16C, "f16c"},
      {TPF_CPU_AVX512F, "avx512f"},   {TPF_CPU_AVX512BW, "avx512bw"},
      {TPF_CPU_AVX512VL, "avx512vl"}, {TPF_CPU_AVX512_BF16, "avx512_bf16"},
      {TPF_CPU_AVX512_FP16, "avx512_fp16"}, {TPF_CPU_AMX_BF16, "amx_bf16"}};
  cached = detect();
  size_t used = 0;
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
    if (cached & list[i].bit)
      used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                               used ? " " : "", list[i].name);
  if (used == 0) snprintf(names, sizeof names, "(none)");
}

static _Atomic unsigned restriction = ~0u;

unsigned tpf_cpu_flags(void) {
  pthread_once(&once, init);
  return cached & restriction;
}

void tpf_cpu_restrict(unsigned keep) { restriction = keep; }

const char *tpf_cpu_features(void) {
  pthread_once(&once, init);
  return names;
}

int tpf_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return 1;
}
