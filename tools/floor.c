/* The machine's floors (see floor.h). */
#define _GNU_SOURCE
#include "floor.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

/* 1 if tpfuse's list of this CPU's features has `name` as a word. */
static int cpu_has(const char *name) {
  const char *list = tpf_cpu_features();
  size_t len = strlen(name);
  for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
    if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) return 1;
  return 0;
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double median(double *v, int count) {
  qsort(v, (size_t)count, sizeof *v, by_value);
  return v[count / 2];
}

/* ------------------------------------------------------------------ peaks */

enum { PEAK_ITERS = 2000000 };

/* Independent accumulators, written out so that they live in registers:
 * enough to cover the FMA latency on two pipes. */
#define X12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define X24(X) X12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)

__attribute__((target("avx2,fma"))) static double fma_avx2(void) {
  const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
#define DECL8(i) __m256 acc##i = _mm256_set1_ps((float)i);
#define FMA8(i) acc##i = _mm256_fmadd_ps(acc##i, x, y);
#define SUM8(i) _mm256_storeu_ps(sink, _mm256_add_ps(_mm256_loadu_ps(sink), acc##i));
  X12(DECL8)
  for (long it = 0; it < PEAK_ITERS; it++) { X12(FMA8) }
  float sink[8] = {0};
  X12(SUM8)
  return (double)PEAK_ITERS * 12 * 8 * 2 + (sink[0] == 12345.0f);
}

#define DECL16(i) __m512 acc##i = _mm512_set1_ps((float)i);
#define SUM16(i) sink += _mm512_reduce_add_ps(acc##i);
/* A loop of OP(i) on 24 accumulators of 16 fp32 lanes, with x and y of
 * type T; returns the flops it did (`flops` per lane and instruction). */
#define DEFINE_PEAK512(name, isa, T, x0, y0, OP, flops)                         \
  __attribute__((target(isa))) static double name(void) {                     \
    const T x = x0, y = y0;                                                    \
    X24(DECL16)                                                                \
    for (long it = 0; it < PEAK_ITERS; it++) { X24(OP) }                      \
    float sink = 0;                                                            \
    X24(SUM16)                                                                 \
    return (double)PEAK_ITERS * 24 * 16 * (flops) + (sink == 12345.0f);        \
  }
#define FMA16(i) acc##i = _mm512_fmadd_ps(acc##i, x, y);
#define DOT16(i) acc##i = _mm512_dpbf16_ps(acc##i, x, y);
DEFINE_PEAK512(fma_avx512, "avx512f,fma", __m512, _mm512_set1_ps(1.0000001f), _mm512_set1_ps(0.9999999f), FMA16, 2)
DEFINE_PEAK512(dot_bf16, "avx512f,avx512bf16", __m512bh, (__m512bh)_mm512_set1_epi16(0x3f80),
               (__m512bh)_mm512_set1_epi16(0x3f80), DOT16, 4)

static const struct {
  const char *name, *needs[2];
  double (*loop)(void);
} PEAKS[FLOOR_PEAKS] = {
    {"fp32 FMA (AVX2)", {"avx2", "fma"}, fma_avx2},
    {"fp32 FMA (AVX-512)", {"avx512f", "fma"}, fma_avx512},
    {"bf16 dot (AVX512_BF16)", {"avx512_bf16", "avx512f"}, dot_bf16},
};

const char *floor_peak_name(floor_peak_t which) { return PEAKS[which].name; }

typedef struct peak_job {
  double (*loop)(void);
  double flops, seconds;
} peak_job_t;

static void *run_peak(void *arg) {
  peak_job_t *j = arg;
  double t0 = timing_now();
  j->flops = j->loop();
  j->seconds = timing_now() - t0;
  return NULL;
}

double floor_peak_gflops(floor_peak_t which, int threads) {
  if (!cpu_has(PEAKS[which].needs[0]) || !cpu_has(PEAKS[which].needs[1])) return 0;
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    peak_job_t jobs[64];
    pthread_t th[64];
    for (int t = 0; t < threads; t++) {
      jobs[t] = (peak_job_t){PEAKS[which].loop, 0, 0};
      pthread_create(&th[t], NULL, run_peak, &jobs[t]);
    }
    double total = 0;
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL), total += jobs[t].flops / jobs[t].seconds;
    if (total > best) best = total;
  }
  return best / 1e9;
}

double floor_gemm_peak(const char *isa, tpf_dtype_t t, int threads, floor_peak_t *which) {
  floor_peak_t peak;
  if (!isa || strcmp(isa, "portable") == 0) return 0;
  if (t == TPF_BFLOAT16 && strcmp(isa, "amx") == 0) return 0;
  if (t == TPF_BFLOAT16 && strcmp(isa, "avx512_bf16") == 0) peak = FLOOR_DOT_BF16;
  else peak = strcmp(isa, "avx2") == 0 ? FLOOR_FMA_AVX2 : FLOOR_FMA_AVX512;
  if (which) *which = peak;
  return floor_peak_gflops(peak, threads);
}

/* ------------------------------------------------------- the plain sums */

/* out[j] = x[j] + y[j] for j in [from, to), through fp32 (the ends the
 * vectors leave). */
static void sum_scalar(void *out, const void *x, const void *y, size_t from, size_t to, tpf_dtype_t t) {
  const size_t es = t == TPF_FLOAT32 ? 4 : 2;
  for (size_t j = from; j < to; j++) {
    float a, b;
    tpf_convert((const char *)x + j * es, t, &a, TPF_FLOAT32, 1);
    tpf_convert((const char *)y + j * es, t, &b, TPF_FLOAT32, 1);
    a += b;
    tpf_convert(&a, TPF_FLOAT32, (char *)out + j * es, t, 1);
  }
}

/* x[0, 8) + y[0, 8) in fp32, rounded to fp16 or bf16 (nearest even). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m128i sum8_half(const uint16_t *x, const uint16_t *y,
                                                                 tpf_dtype_t t) {
  __m128i hx = _mm_loadu_si128((const __m128i *)x), hy = _mm_loadu_si128((const __m128i *)y);
  if (t == TPF_FLOAT16)
    return _mm256_cvtps_ph(_mm256_add_ps(_mm256_cvtph_ps(hx), _mm256_cvtph_ps(hy)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 v = _mm256_add_ps(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hx), 16)),
                           _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hy), 16)));
  __m256i bits = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  bits = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(bits), _mm256_extracti128_si256(bits, 1));
}

/* out[j] = x[j] + y[j] for j < n in dtype t (fp32 sums, rounded to nearest
 * even), 8 (fp32) or 16 at a time with AVX2; with `stream`, the vectors'
 * stores are streamed (from the first element at which they are aligned). */
__attribute__((target("avx2,fma,f16c"))) static void sum_avx2(void *out, const void *x, const void *y, size_t n,
                                                              tpf_dtype_t t, int stream) {
  const size_t es = t == TPF_FLOAT32 ? 4 : 2, vector = 32;
  size_t j = stream ? (vector - (uintptr_t)out % vector) % vector / es : 0;
  if (j > n) j = n;
  sum_scalar(out, x, y, 0, j, t);
  if (t == TPF_FLOAT32) {
    float *o = out;
    const float *a = x, *b = y;
    for (; j + 8 <= n; j += 8) {
      __m256 v = _mm256_add_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j));
      if (stream) _mm256_stream_ps(o + j, v);
      else _mm256_storeu_ps(o + j, v);
    }
  } else { /* 16 at a time: one 32-byte store, so that streamed stores fill whole lines */
    uint16_t *o = out;
    const uint16_t *a = x, *b = y;
    for (; j + 16 <= n; j += 16) {
      __m256i h = _mm256_set_m128i(sum8_half(a + j + 8, b + j + 8, t), sum8_half(a + j, b + j, t));
      if (stream) _mm256_stream_si256((__m256i *)(o + j), h);
      else _mm256_storeu_si256((__m256i *)(o + j), h);
    }
  }
  if (stream) _mm_sfence();
  sum_scalar(out, x, y, j, n, t);
}

/* The same without AVX2: 256 elements at a time through fp32. */
static void sum_plain(void *out, const void *x, const void *y, size_t n, tpf_dtype_t t) {
  const size_t es = t == TPF_FLOAT32 ? 4 : 2;
  float a[256], b[256];
  for (size_t j = 0; j < n; j += 256) {
    size_t len = n - j < 256 ? n - j : 256;
    tpf_convert((const char *)x + j * es, t, a, TPF_FLOAT32, len);
    tpf_convert((const char *)y + j * es, t, b, TPF_FLOAT32, len);
    for (size_t i = 0; i < len; i++) a[i] += b[i];
    tpf_convert(a, TPF_FLOAT32, (char *)out + j * es, t, len);
  }
}

static void sum(void *out, const void *x, const void *y, size_t n, tpf_dtype_t t, int stream) {
  static int avx2 = -1;
  if (avx2 < 0) avx2 = cpu_has("avx2") && cpu_has("f16c");
  if (avx2) sum_avx2(out, x, y, n, t, stream);
  else sum_plain(out, x, y, n, t);
}

/* memcpy, or with `stream` whole 64-byte lines of dst with streaming
 * stores (the ends by memcpy). */
__attribute__((target("avx2"))) static void copy_streamed(char *dst, const char *src, size_t bytes) {
  size_t head = (64 - (uintptr_t)dst % 64) % 64, o = head < bytes ? head : bytes;
  memcpy(dst, src, o);
  for (; o + 64 <= bytes; o += 64) {
    _mm256_stream_si256((__m256i *)(dst + o), _mm256_loadu_si256((const __m256i *)(src + o)));
    _mm256_stream_si256((__m256i *)(dst + o + 32), _mm256_loadu_si256((const __m256i *)(src + o + 32)));
  }
  memcpy(dst + o, src + o, bytes - o);
  _mm_sfence();
}

static void copy(char *dst, const char *src, size_t bytes, int stream) {
  if (stream && cpu_has("avx2")) copy_streamed(dst, src, bytes);
  else memcpy(dst, src, bytes);
}

/* ------------------------------------------------------------ bandwidth */

typedef struct bandwidth_job {
  size_t bytes;
  int reps;
  pthread_barrier_t *start;
  double seconds[16];
  int ok;
} bandwidth_job_t;

static void *run_bandwidth(void *arg) {
  bandwidth_job_t *j = arg;
  float *a = bench_alloc(j->bytes), *b = bench_alloc(j->bytes), *c = bench_alloc(j->bytes);
  j->ok = a && b && c;
  const size_t n = j->bytes / 4;
  for (size_t i = 0; j->ok && i < n; i++) a[i] = (float)(i & 255), b[i] = 1.0f;
  for (int rep = -1; rep < j->reps; rep++) { /* every thread takes part in every pass */
    pthread_barrier_wait(j->start);
    double t0 = timing_now();
    if (j->ok) sum(c, a, b, n, TPF_FLOAT32, 1);
    if (rep >= 0) j->seconds[rep] = timing_now() - t0;
  }
  free(a), free(b), free(c);
  return NULL;
}

double floor_sum_gbps(size_t bytes, int threads, int reps) {
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  if (reps < 1) reps = 1;
  if (reps > 16) reps = 16;
  bytes = bytes / 64 * 64;
  bandwidth_job_t jobs[64];
  pthread_t th[64];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads);
  for (int t = 0; t < threads; t++) {
    jobs[t] = (bandwidth_job_t){.bytes = bytes, .reps = reps, .start = &start};
    pthread_create(&th[t], NULL, run_bandwidth, &jobs[t]);
  }
  int ok = 1;
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL), ok &= jobs[t].ok;
  pthread_barrier_destroy(&start);
  if (!ok) return -1;
  double slowest[16];
  for (int rep = 0; rep < reps; rep++) {
    slowest[rep] = 0;
    for (int t = 0; t < threads; t++)
      if (jobs[t].seconds[rep] > slowest[rep]) slowest[rep] = jobs[t].seconds[rep];
  }
  return 3.0 * (double)bytes * threads / median(slowest, reps) / 1e9;
}

/* ----------------------------------------------------------- two ranks */

/* Two ranks' shared words, each on its own cache line: rank r's count of
 * the barriers it has reached, and the round trips' ball going out (ping)
 * and coming back (pong). */
typedef struct pair_line {
  _Alignas(64) atomic_long word;
} pair_line_t;
typedef struct pair_words {
  pair_line_t arrived[2], ping, pong;
} pair_words_t;

/* Rank r's barrier number `round`: both ranks have reached it on return. */
static void pair_barrier(pair_words_t *p, int r, long round) {
  atomic_store_explicit(&p->arrived[r].word, round, memory_order_release);
  while (atomic_load_explicit(&p->arrived[1 - r].word, memory_order_acquire) < round) _mm_pause();
}

/* What both ranks run; rank 0 records. */
typedef struct pair_work {
  int kind; /* 0: round trips, 1: the collective */
  /* round trips */
  int count, reps;
  /* the collective */
  floor_op_t op;
  size_t bytes;
  tpf_dtype_t t;
  int stream;
  char *in[2], *out[2], *staged[2];
  double *seconds;
} pair_work_t;

static void bind_to(int cpu) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set); /* the calling thread */
}

enum { STAGED_PIECE = 256 << 10 };

/* The length of the piece at `at` of `bytes`: 0 past the end. */
static size_t piece(size_t at, size_t bytes) {
  if (at >= bytes) return 0;
  return bytes - at < STAGED_PIECE ? bytes - at : STAGED_PIECE;
}

/* Rank r's part of one call, as plainly as it can be written (see
 * floor.h); the all-reduce's halves meet at a barrier, the staged
 * reduce-scatter's pieces each at one. */
static void collective(pair_words_t *p, int r, const pair_work_t *w, long *round) {
  const size_t es = w->t == TPF_FLOAT32 ? 4 : 2, bytes = w->bytes;
  switch (w->op) {
  case FLOOR_RS:
    sum(w->out[r], w->in[0] + (size_t)r * bytes, w->in[1] + (size_t)r * bytes, bytes / es, w->t, w->stream);
    return;
  case FLOOR_AG:
    copy(w->out[r], w->in[0], bytes, w->stream);
    copy(w->out[r] + bytes, w->in[1], bytes, w->stream);
    return;
  case FLOOR_RS_STAGED:
    for (size_t at = 0; at < bytes; at += STAGED_PIECE) {
      copy(w->staged[r] + at, w->in[r] + (size_t)(1 - r) * bytes + at, piece(at, bytes), w->stream);
      pair_barrier(p, r, ++*round);
      sum(w->out[r] + at, w->in[r] + (size_t)r * bytes + at, w->staged[1 - r] + at, piece(at, bytes) / es, w->t,
          w->stream);
    }
    return;
  case FLOOR_AG_STAGED:
    copy(w->out[r] + (size_t)r * bytes, w->in[r], bytes, w->stream);
    for (size_t at = 0; at < bytes; at += STAGED_PIECE) {
      copy(w->staged[r] + at, w->in[r] + at, piece(at, bytes), w->stream);
      pair_barrier(p, r, ++*round);
      copy(w->out[r] + (size_t)(1 - r) * bytes + at, w->staged[1 - r] + at, piece(at, bytes), w->stream);
    }
    return;
  case FLOOR_AR_STAGED: { /* the halves as FLOOR_AR's: summed from the staged inputs, gathered from the staged outputs */
    const size_t half = bytes / es / 2 * es, mine = r ? half : 0, len = r ? bytes - half : half;
    const size_t theirs = r ? 0 : half, their_len = r ? half : bytes - half, most = len > their_len ? len : their_len;
    for (size_t at = 0; at < most; at += STAGED_PIECE) {
      copy(w->staged[r] + theirs + at, w->in[r] + theirs + at, piece(at, their_len), w->stream);
      pair_barrier(p, r, ++*round);
      sum(w->out[r] + mine + at, w->in[r] + mine + at, w->staged[1 - r] + mine + at, piece(at, len) / es, w->t,
          w->stream);
    }
    for (size_t at = 0; at < most; at += STAGED_PIECE) {
      copy(w->staged[r] + mine + at, w->out[r] + mine + at, piece(at, len), w->stream);
      pair_barrier(p, r, ++*round);
      copy(w->out[r] + theirs + at, w->staged[1 - r] + theirs + at, piece(at, their_len), w->stream);
    }
    return;
  }
  case FLOOR_AR: {
    const size_t half = bytes / es / 2 * es, from = r ? half : 0, len = r ? bytes - half : half;
    sum(w->out[r] + from, w->in[0] + from, w->in[1] + from, len / es, w->t, w->stream);
    pair_barrier(p, r, ++*round);
    const size_t theirs = r ? 0 : half, their_len = r ? half : bytes - half;
    copy(w->out[r] + theirs, w->out[1 - r] + theirs, their_len, w->stream);
    return;
  }
  }
}

static void pair_run(pair_words_t *p, int r, pair_work_t *w) {
  bind_to(r);
  long round = 0;
  if (w->kind == 0) { /* rank 0 sends trip i, rank 1 sends it back */
    for (int rep = -1; rep < w->reps; rep++) {
      pair_barrier(p, r, ++round);
      double t0 = timing_now();
      for (long i = round * (long)w->count + 1; i <= (round + 1) * (long)w->count; i++) {
        if (r == 0) atomic_store_explicit(&p->ping.word, i, memory_order_release);
        while (atomic_load_explicit(r == 0 ? &p->pong.word : &p->ping.word, memory_order_acquire) != i) _mm_pause();
        if (r == 1) atomic_store_explicit(&p->pong.word, i, memory_order_release);
      }
      if (r == 0 && rep >= 0) w->seconds[rep] = (timing_now() - t0) / w->count;
    }
    return;
  }
  for (int rep = -1; rep < w->reps; rep++) {
    pair_barrier(p, r, ++round);
    double t0 = timing_now();
    collective(p, r, w, &round);
    pair_barrier(p, r, ++round);
    if (r == 0 && rep >= 0) w->seconds[rep] = timing_now() - t0;
  }
}

typedef struct pair_thread {
  pair_words_t *p;
  pair_work_t *w;
} pair_thread_t;

static void *pair_thread(void *arg) {
  pair_thread_t *a = arg;
  pair_run(a->p, 1, a->w);
  return NULL;
}

/* Runs w on two ranks over the words (and buffers) in shared memory. */
static int pair_start(pair_work_t *w, int processes) {
  pair_words_t *words = mmap(NULL, sizeof *words, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (words == MAP_FAILED) return -1;
  memset(words, 0, sizeof *words);
  cpu_set_t before;
  sched_getaffinity(0, sizeof before, &before);
  int rc = 0;
  if (processes) {
    pid_t child = fork();
    if (child == 0) {
      pair_run(words, 1, w);
      _exit(0);
    }
    if (child < 0) rc = -1;
    else {
      pair_run(words, 0, w);
      int status;
      waitpid(child, &status, 0);
      rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
    }
  } else {
    pthread_t th;
    pair_thread_t arg = {words, w};
    if (pthread_create(&th, NULL, pair_thread, &arg) != 0) rc = -1;
    else {
      pair_run(words, 0, w);
      pthread_join(th, NULL);
    }
  }
  sched_setaffinity(0, sizeof before, &before);
  munmap(words, sizeof *words);
  return rc;
}

double floor_round_trip(int processes, int count, int reps) {
  double seconds[64];
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  pair_work_t w = {.kind = 0, .count = count > 0 ? count : 1, .reps = reps, .seconds = seconds};
  if (pair_start(&w, processes) != 0) return -1;
  return median(seconds, reps);
}

/* Element i of rank q's input: a small integer, so every sum is exact. */
static float input_value(int q, size_t i) { return (float)((i + 3 * (size_t)q) % 7); }

/* 1 if every output of w is what the collective makes of the inputs. */
static int outputs_right(const pair_work_t *w) {
  const size_t es = w->t == TPF_FLOAT32 ? 4 : 2, n = w->bytes / es;
  const int gathers = w->op == FLOOR_AG || w->op == FLOOR_AG_STAGED;
  for (int r = 0; r < 2; r++) {
    const size_t count = gathers ? 2 * n : n;
    for (size_t i = 0; i < count; i++) {
      float want, got;
      if (gathers) want = input_value((int)(i / n), i % n);
      else {
        const size_t at = w->op == FLOOR_AR || w->op == FLOOR_AR_STAGED ? i : (size_t)r * n + i;
        want = input_value(0, at) + input_value(1, at);
      }
      tpf_convert(w->out[r] + i * es, w->t, &got, TPF_FLOAT32, 1);
      if (got != want) return 0;
    }
  }
  return 1;
}

int floor_rounds(floor_op_t op, size_t bytes, tpf_dtype_t t, int processes, int stream, int reps, double *seconds) {
  const size_t es = t == TPF_FLOAT32 ? 4 : 2;
  bytes = bytes / es * es;
  /* per rank: two blocks of input, two of output and one staged, on page
   * boundaries */
  const size_t block = (bytes + 4095) / 4096 * 4096, total = 10 * block;
  char *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return -1;
  pair_work_t w = {.kind = 1, .reps = reps, .op = op, .bytes = bytes, .t = t, .stream = stream, .seconds = seconds};
  for (int q = 0; q < 2; q++) {
    w.in[q] = mem + (size_t)q * 2 * block, w.out[q] = mem + (size_t)(4 + 2 * q) * block;
    w.staged[q] = mem + (size_t)(8 + q) * block;
    for (size_t i = 0; i < 2 * block / es; i++) {
      float v = input_value(q, i);
      tpf_convert(&v, TPF_FLOAT32, w.in[q] + i * es, t, 1);
    }
  }
  int rc = pair_start(&w, processes);
  if (rc == 0 && !outputs_right(&w)) rc = -1;
  munmap(mem, total);
  return rc;
}

floor_op_t floor_staged(floor_op_t op) {
  return op == FLOOR_AG ? FLOOR_AG_STAGED : op == FLOOR_AR ? FLOOR_AR_STAGED : FLOOR_RS_STAGED;
}

double floor_seconds(floor_op_t op, size_t bytes, tpf_dtype_t t, int processes, int reps, int *streamed) {
  double cached[256], direct[256];
  if (reps < 1) reps = 1;
  if (reps > 256) reps = 256;
  if (floor_rounds(op, bytes, t, processes, 0, reps, cached) != 0 ||
      floor_rounds(op, bytes, t, processes, 1, reps, direct) != 0)
    return -1;
  double c = median(cached, reps), s = median(direct, reps);
  if (streamed) *streamed = s < c;
  return s < c ? s : c;
}

void floor_cpu_text(char *buf, size_t size) {
  char line[512], model[256] = "unknown CPU";
  int family = -1, number = -1;
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    if (strncmp(line, "model name", 10) == 0 && strcmp(model, "unknown CPU") == 0) {
      snprintf(model, sizeof model, "%s", colon + 2);
      model[strcspn(model, "\n")] = '\0';
    } else if (strncmp(line, "cpu family", 10) == 0 && family < 0) family = atoi(colon + 1);
    else if (strncmp(line, "model\t", 6) == 0 && number < 0) number = atoi(colon + 1);
    if (line[0] == '\n' && family >= 0) break; /* the first processor is enough */
  }
  if (f) fclose(f);
  snprintf(buf, size, "%s (family %d, model %d)", model, family, number);
}
