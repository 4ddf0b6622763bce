/* The operator family over its correctness matrix: tpf_all_gather,
 * tpf_all_reduce, tpf_all_gather_mm and tpf_mm_all_reduce, every dtype,
 * world sizes 1, 2, 3, 4, 5, 8, k = 1 and n = 1, odd and uneven splits
 * (ranks with no rows), m not dividing by W, padded leading dimensions,
 * transposed b, bias (once, or per rank with an addend, torch_npu's form),
 * avg, comm_turn, in-place gathers and every algorithm.
 *
 * Each rank checks its output against a float64 reference (the gathers
 * exactly). Every algorithm must give the same bits (AllGatherMatmul on any
 * inputs; MatmulAllReduce's direct and unfused on any, its ring on small
 * integers, where every fp32 sum is exact); the reductions must give the
 * same bits on every rank; thread ranks and process ranks the same bits.
 * Under mpirun (mode mpi) the ranks are the job's processes, with the
 * world sizes of the job only, and thread ranks give the same bits.
 * Usage: ops_family [quick|full] [seed] [threads|shm|mpi]. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../test.h"
#include "ranks.h"
#ifdef TPF_WITH_MPI
#include <mpi.h>
#endif

enum { OP_AG, OP_AR, OP_AGMM, OP_MMAR, OPS };
static const char *const OP_NAMES[OPS] = {"all_gather", "all_reduce", "all_gather_mm", "mm_all_reduce"};
enum { MAX_W = 8 };

typedef struct fcase {
  int op, world_size;
  int64_t m, n, k;
  tpf_dtype_t dtype;
  int b_transposed, bias, avg, comm_turn, uneven, integers;
  int64_t pad;
  int gathered;  /* AllGatherMatmul: ask for the gathered a */
  int in_place;  /* the gathers: the input is the output's own rows */
  int addend, per_rank; /* MatmulAllReduce: torch_npu's terms */
  tpf_algo_t algo;
  uint64_t seed;
  int processes; /* RS_THREADS, RS_SHM or RS_MPI */
} fcase_t;

typedef struct outcome {
  tpf_status_t status;
  char error[256];
  int64_t wrong;
  double worst;
  uint64_t hash, gathered_hash;
} outcome_t;

/* Shared with forked ranks. */
static struct shared {
  outcome_t outcomes[MAX_W];
  tpf_status_t status[MAX_W]; /* ranks_run's */
  char error[MAX_W][256];
} *shared;
#define outcomes (shared->outcomes)

/* ---------------------------------------------------------------- values */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

/* Element (i, j) of input `tag` of rank q: exact in every dtype. Random:
 * 7 significant bits and a spread of exponents; integers: -2 .. 2. */
static float value(const fcase_t *c, int tag, int q, int64_t i, int64_t j) {
  uint64_t h = mix(c->seed ^ mix((uint64_t)tag * 1000003u + (uint64_t)q) ^ mix((uint64_t)i * 7919u + (uint64_t)j * 104729u + 17));
  if (c->integers) return (float)((int)(h % 5) - 2);
  float v = (float)(64 + (int)(h % 64)) / 128.0f / (float)(1 << ((h >> 8) % 4));
  return (h >> 16) & 1 ? -v : v;
}

static uint16_t f16_of(float f) { /* exact normal values and zero only */
  uint32_t b;
  memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) == 0) return (uint16_t)(b >> 16);
  return (uint16_t)(((b >> 16) & 0x8000) | ((((b >> 23) & 0xff) - 112) << 10) | ((b >> 13) & 0x3ff));
}

static float f32_of_f16(uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), e - 25);
  return h & 0x8000 ? -v : v;
}

static size_t esize(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 4 : 2; }

static void store(void *p, tpf_dtype_t t, size_t i, float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  if (t == TPF_FLOAT32) ((float *)p)[i] = v;
  else if (t == TPF_BFLOAT16) ((uint16_t *)p)[i] = (uint16_t)(b >> 16);
  else ((uint16_t *)p)[i] = f16_of(v);
}

static double load(const void *p, tpf_dtype_t t, size_t i) {
  if (t == TPF_FLOAT32) return ((const float *)p)[i];
  uint16_t h = ((const uint16_t *)p)[i];
  if (t == TPF_FLOAT16) return f32_of_f16(h);
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

/* A rows x cols view over fresh memory (ld cols + pad), filled with input
 * `tag` of rank q from row `first`, or with a sentinel (tag < 0). */
static tpf_matrix_t make(const fcase_t *c, int tag, int q, int64_t first, int64_t rows, int64_t cols) {
  const int64_t ld = cols + c->pad;
  void *data = calloc((size_t)(rows > 0 ? rows : 1) * (size_t)ld, esize(c->dtype));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      store(data, c->dtype, (size_t)(i * ld + j), tag < 0 ? -777.0f : value(c, tag, q, first + i, j));
  return (tpf_matrix_t){data, c->dtype, rows, cols, c->pad ? ld : 0, 0};
}

enum { TAG_A = 1, TAG_B = 2, TAG_BIAS = 3, TAG_X3 = 4 };

/* ------------------------------------------------------------- the split */

/* The uneven counts: rank 1 % W has none, the others 1..4 rows, the last
 * the rest; they sum to m (set by the case). */
static void uneven_counts(const fcase_t *c, int64_t *counts) {
  const int W = c->world_size;
  int64_t left = c->m;
  for (int q = 0; q < W; q++) {
    counts[q] = q == W - 1 ? left : q == 1 % W ? 0 : (q * 7 + 3) % 5;
    if (counts[q] > left) counts[q] = left;
    left -= counts[q];
  }
}

static void split(const fcase_t *c, int64_t *offsets, int64_t *counts) {
  const int W = c->world_size;
  if (c->uneven) uneven_counts(c, counts);
  offsets[0] = 0;
  for (int q = 0; q < W; q++) {
    if (!c->uneven) counts[q] = (c->op == OP_AR || c->op == OP_MMAR) ? c->m * (q + 1) / W - c->m * q / W : c->m / W;
    offsets[q + 1] = offsets[q] + counts[q];
  }
}

/* --------------------------------------------------------------- ranking */

static uint64_t hash_rows(const tpf_matrix_t *x) {
  const int64_t ld = x->ld ? x->ld : x->cols;
  uint64_t h = 1469598103934665603ull;
  const size_t rb = (size_t)x->cols * esize(x->dtype);
  for (int64_t i = 0; i < x->rows; i++) {
    const unsigned char *p = (const unsigned char *)x->data + (size_t)(i * ld) * esize(x->dtype);
    for (size_t b = 0; b < rb; b++) h = (h ^ p[b]) * 1099511628211ull;
  }
  return h;
}

/* Unit roundoff of the output dtype (a little more). */
static double out_roundoff(tpf_dtype_t t) { return t == TPF_FLOAT32 ? 0x1p-23 : t == TPF_BFLOAT16 ? 0x1p-8 : 0x1p-10; }

/* Compares out (rows x n) with ref/abs (float64, dense); `exact`: the bits
 * must be the reference's. */
static void compare(const fcase_t *c, const tpf_matrix_t *out, const double *ref, const double *mag, int exact,
                    outcome_t *o) {
  const int64_t ld = out->ld ? out->ld : out->cols;
  const double terms = (double)(c->k + c->world_size + 4);
  for (int64_t i = 0; i < out->rows; i++)
    for (int64_t j = 0; j < out->cols; j++) {
      const double got = load(out->data, c->dtype, (size_t)(i * ld + j)), want = ref[i * out->cols + j];
      const double bound = exact ? 0 : out_roundoff(c->dtype) * fabs(want) + terms * 0x1p-22 * mag[i * out->cols + j] + 1e-30;
      const double err = fabs(got - want);
      if (!(err <= bound)) o->wrong++;
      if (bound > 0 && err / bound > o->worst) o->worst = err / bound;
      if (!(err <= bound) && exact) o->worst = INFINITY;
    }
}

/* rows x cols of dense float64 */
static double *zeros(int64_t rows, int64_t cols) { return calloc((size_t)(rows > 0 ? rows : 1) * (size_t)cols, sizeof(double)); }

static double b_value(const fcase_t *c, int q, int64_t p, int64_t j) { return value(c, TAG_B, q, p, j); }

/* The reference for rank r's output. */
static void reference(const fcase_t *c, int r, const int64_t *offsets, double *ref, double *mag) {
  const int W = c->world_size;
  const int64_t m = c->m, n = c->n, k = c->k;
  if (c->op == OP_AG) {
    for (int q = 0; q < W; q++)
      for (int64_t i = offsets[q]; i < offsets[q + 1]; i++)
        for (int64_t j = 0; j < n; j++) ref[i * n + j] = value(c, TAG_A, q, i, j);
    return;
  }
  if (c->op == OP_AGMM) {
    for (int q = 0; q < W; q++)
      for (int64_t i = offsets[q]; i < offsets[q + 1]; i++)
        for (int64_t p = 0; p < k; p++) {
          const double x = value(c, TAG_A, q, i, p);
          for (int64_t j = 0; j < n; j++) {
            const double t = x * b_value(c, r, p, j);
            ref[i * n + j] += t, mag[i * n + j] += fabs(t);
          }
        }
    if (c->bias)
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) ref[i * n + j] += value(c, TAG_BIAS, r, 0, j), mag[i * n + j] += 1;
    return;
  }
  for (int q = 0; q < W; q++) /* the reductions */
    for (int64_t i = 0; i < m; i++) {
      for (int64_t j = 0; j < n; j++) {
        double t = c->op == OP_AR ? value(c, TAG_A, q, i, j) : 0;
        if (c->op == OP_MMAR && c->addend) t += value(c, TAG_X3, q, i, j);
        if (c->op == OP_MMAR && c->bias && c->per_rank) t += value(c, TAG_BIAS, q, 0, j);
        ref[i * n + j] += t, mag[i * n + j] += fabs(t);
      }
      for (int64_t p = 0; c->op == OP_MMAR && p < k; p++) {
        const double x = value(c, TAG_A, q, i, p);
        for (int64_t j = 0; j < n; j++) {
          const double t = x * b_value(c, q, p, j);
          ref[i * n + j] += t, mag[i * n + j] += fabs(t);
        }
      }
    }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      if (c->avg) ref[i * n + j] /= W, mag[i * n + j] /= W;
      if (c->bias && !c->per_rank) ref[i * n + j] += value(c, TAG_BIAS, 0, 0, j), mag[i * n + j] += 1;
    }
}

/* A transposed k x n view of b: stored n x k. */
static tpf_matrix_t make_b(const fcase_t *c, int q) {
  if (!c->b_transposed) return make(c, TAG_B, q, 0, c->k, c->n);
  const int64_t ld = c->k + c->pad;
  void *data = calloc((size_t)c->n * (size_t)ld, esize(c->dtype));
  for (int64_t j = 0; j < c->n; j++)
    for (int64_t p = 0; p < c->k; p++) store(data, c->dtype, (size_t)(j * ld + p), value(c, TAG_B, q, p, j));
  return (tpf_matrix_t){data, c->dtype, c->k, c->n, c->pad ? ld : 0, 1};
}

static void rank_body(tpf_comm_t *comm, int r, void *arg) {
  const fcase_t *c = arg;
  const int W = c->world_size;
  int64_t offsets[MAX_W + 1], counts[MAX_W];
  split(c, offsets, counts);
  outcome_t *o = &outcomes[r];
  tpf_mm_options_t opt = TPF_MM_OPTIONS_INIT;
  opt.reduce_op = c->avg ? TPF_AVG : TPF_SUM;
  opt.comm_turn = c->comm_turn;
  opt.row_counts = c->uneven ? counts : NULL;
  opt.algo = c->algo;
  const int bias_rank = c->op == OP_AGMM || c->per_rank ? r : 0; /* a bias once: every rank passes rank 0's */
  tpf_matrix_t bias = make(c, TAG_BIAS, bias_rank, 0, 1, c->n);
  if (c->bias) opt.bias = bias.data;
  const int64_t rows = counts[r], out_rows = c->op == OP_AG || c->op == OP_AGMM || c->op == OP_AR || c->op == OP_MMAR ? c->m : rows;
  const int64_t out_cols = c->n;
  tpf_matrix_t out = make(c, -1, r, 0, out_rows, out_cols), a = {0}, b = {0}, x3 = {0}, gathered = {0};
  tpf_matrix_t *gathered_arg = NULL;
  const size_t es = esize(c->dtype);
  switch (c->op) {
  case OP_AG:
    a = make(c, TAG_A, r, offsets[r], rows, c->n);
    if (c->in_place) { /* a inside out: out's own rows */
      const int64_t ld = out.ld ? out.ld : out.cols;
      for (int64_t i = 0; i < rows; i++)
        memcpy((char *)out.data + (size_t)((offsets[r] + i) * ld) * es, (char *)a.data + (size_t)(i * (a.ld ? a.ld : a.cols)) * es,
               (size_t)c->n * es);
      free(a.data);
      a = (tpf_matrix_t){(char *)out.data + (size_t)(offsets[r] * ld) * es, c->dtype, rows, c->n, out.ld, 0};
    }
    o->status = tpf_all_gather(comm, &a, &out, &opt);
    break;
  case OP_AR:
    a = make(c, TAG_A, r, 0, c->m, c->n);
    o->status = tpf_all_reduce(comm, &a, &out, &opt);
    break;
  case OP_AGMM:
    a = make(c, TAG_A, r, offsets[r], rows, c->k);
    b = make_b(c, r);
    if (c->gathered) {
      gathered = make(c, -1, r, 0, c->m, c->k);
      gathered_arg = &gathered;
      if (c->in_place) {
        const int64_t ld = gathered.ld ? gathered.ld : gathered.cols;
        for (int64_t i = 0; i < rows; i++)
          memcpy((char *)gathered.data + (size_t)((offsets[r] + i) * ld) * es,
                 (char *)a.data + (size_t)(i * (a.ld ? a.ld : a.cols)) * es, (size_t)c->k * es);
        free(a.data);
        a = (tpf_matrix_t){(char *)gathered.data + (size_t)(offsets[r] * ld) * es, c->dtype, rows, c->k, gathered.ld, 0};
      }
    }
    o->status = tpf_all_gather_mm(comm, &a, &b, &out, gathered_arg, &opt);
    break;
  default:
    a = make(c, TAG_A, r, 0, c->m, c->k);
    b = make_b(c, r);
    if (c->addend) {
      x3 = make(c, TAG_X3, r, 0, c->m, c->n);
      opt.addend = &x3;
    }
    opt.bias_per_rank = c->per_rank;
    o->status = tpf_mm_all_reduce(comm, &a, &b, &out, &opt);
  }
  snprintf(o->error, sizeof o->error, "%s", o->status ? tpf_last_error() : "");
  o->wrong = 0, o->worst = 0;
  if (o->status == TPF_OK) {
    double *ref = zeros(out_rows, out_cols), *mag = zeros(out_rows, out_cols);
    reference(c, r, offsets, ref, mag);
    compare(c, &out, ref, mag, c->op == OP_AG, o);
    free(ref), free(mag);
    o->hash = hash_rows(&out);
    if (gathered_arg) {
      fcase_t as_ag = *c;
      as_ag.op = OP_AG, as_ag.n = c->k;
      double *g = zeros(c->m, c->k);
      reference(&as_ag, r, offsets, g, g);
      compare(&as_ag, &gathered, g, g, 1, o);
      free(g);
      o->gathered_hash = hash_rows(&gathered);
    }
  }
  const int a_in_out = c->in_place && (c->op == OP_AG || (c->op == OP_AGMM && c->gathered));
  if (!a_in_out) free(a.data);
  free(b.data), free(x3.data), free(out.data), free(gathered.data), free(bias.data);
  (void)W;
}

/* ----------------------------------------------------------------- cases */

static void describe(const fcase_t *c, char *buf, size_t size) {
  snprintf(buf, size, "%s W=%d m=%lld k=%lld n=%lld %s b_t=%d pad=%lld bias=%d%s%s %s turn=%d %s algo=%d%s%s %s%s seed=%llu",
           OP_NAMES[c->op], c->world_size, (long long)c->m, (long long)c->k, (long long)c->n,
           c->dtype == TPF_FLOAT16 ? "fp16" : c->dtype == TPF_BFLOAT16 ? "bf16" : "fp32", c->b_transposed,
           (long long)c->pad, c->bias, c->per_rank ? " per rank" : "", c->addend ? " +x3" : "", c->avg ? "avg" : "sum",
           c->comm_turn, c->uneven ? "uneven" : "even", (int)c->algo, c->gathered ? " gathered" : "",
           c->in_place ? " in place" : "", c->integers ? "integers" : "random", c->processes ? " processes" : "",
           (unsigned long long)c->seed);
}

/* Runs c; checks every rank; 1 if all passed (outcomes then hold them). */
static int run_case(const fcase_t *c) {
  char what[400];
  describe(c, what, sizeof what);
  tpf_config_t cfg = TPF_CONFIG_INIT;
  cfg.threads_per_rank = 1 + (int)(c->seed % 2);
  cfg.timeout_ms = 20000;
  tpf_status_t *status = shared->status;
  char(*error)[256] = shared->error;
  memset(shared, 0, sizeof *shared);
  tpf_status_t s = ranks_run(c->processes, c->world_size, &cfg, rank_body, (void *)c, status, error);
#ifdef TPF_WITH_MPI
  if (c->processes == RS_MPI) { /* every rank's outcome to every process */
    int me;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    outcome_t mine = outcomes[me];
    MPI_Allgather(&mine, sizeof mine, MPI_BYTE, outcomes, sizeof mine, MPI_BYTE, MPI_COMM_WORLD);
    tpf_status_t my_status = status[me];
    MPI_Allgather(&my_status, sizeof my_status, MPI_BYTE, status, sizeof my_status, MPI_BYTE, MPI_COMM_WORLD);
  }
#endif
  CHECK(s == TPF_OK, "%s: could not start: %s", what, tpf_last_error());
  int ok = s == TPF_OK;
  for (int q = 0; q < c->world_size && ok; q++) {
    const outcome_t *o = &outcomes[q];
    CHECK(status[q] == TPF_OK && o->status == TPF_OK && o->wrong == 0, "%s: rank %d %s %s, %lld wrong, worst %.3g: %s",
          what, q, tpf_status_string(status[q]), tpf_status_string(o->status), (long long)o->wrong, o->worst,
          status[q] ? error[q] : o->error);
    ok &= status[q] == TPF_OK && o->status == TPF_OK && o->wrong == 0;
  }
  if (ok && (c->op == OP_AR || c->op == OP_MMAR))
    for (int q = 1; q < c->world_size; q++)
      CHECK(outcomes[q].hash == outcomes[0].hash, "%s: ranks 0 and %d hold different bits", what, q);
  return ok;
}

typedef struct hashes {
  uint64_t out[MAX_W], gathered[MAX_W];
} hashes_t;

static hashes_t keep(int W) {
  hashes_t h;
  for (int q = 0; q < W; q++) h.out[q] = outcomes[q].hash, h.gathered[q] = outcomes[q].gathered_hash;
  return h;
}

static void same_bits(const fcase_t *c, const hashes_t *x, const hashes_t *y, const char *how) {
  char what[400];
  describe(c, what, sizeof what);
  for (int q = 0; q < c->world_size; q++)
    CHECK(x->out[q] == y->out[q] && x->gathered[q] == y->gathered[q], "%s: rank %d: %s differ", what, q, how);
}

/* Every algorithm of c (and, once in a while, process ranks): the bits
 * they must share. */
static void check_case(fcase_t c, int with_processes) {
  hashes_t unfused, other;
  if (c.op == OP_AG || c.op == OP_AR) {
    c.algo = TPF_ALGO_AUTO;
    if (!run_case(&c)) return;
    unfused = keep(c.world_size);
  } else {
    c.algo = TPF_ALGO_UNFUSED;
    if (!run_case(&c)) return;
    unfused = keep(c.world_size);
    c.algo = TPF_ALGO_DIRECT;
    if (run_case(&c)) other = keep(c.world_size), same_bits(&c, &unfused, &other, "direct and unfused");
    c.algo = TPF_ALGO_RING;
    if (run_case(&c)) other = keep(c.world_size), same_bits(&c, &unfused, &other, "ring and unfused");
    c.algo = TPF_ALGO_UNFUSED;
  }
  if (with_processes) {
    c.processes = c.processes == RS_THREADS ? RS_SHM : RS_THREADS;
    if (run_case(&c)) other = keep(c.world_size), same_bits(&c, &unfused, &other, "process and thread ranks");
  }
}

int main(int argc, char **argv) {
  const int full = argc > 1 && strcmp(argv[1], "full") == 0;
  const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 20261207;
  const char *where = argc > 3 ? argv[3] : "threads";
  const int ranks = strcmp(where, "shm") == 0 ? RS_SHM : strcmp(where, "mpi") == 0 ? RS_MPI : RS_THREADS;
  int only_world = 0; /* under MPI: the job's size */
#ifdef TPF_WITH_MPI
  if (ranks == RS_MPI) {
    MPI_Init(&argc, &argv);
    MPI_Comm_size(MPI_COMM_WORLD, &only_world);
  }
#endif
  if (ranks == RS_MPI && only_world == 0) {
    printf("SKIP: built without MPI\n");
    return 77;
  }
  printf("seed %llu (%s), ranks: %s\n", (unsigned long long)seed, full ? "full" : "quick", where);
  shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  const int worlds[] = {1, 2, 3, 4, 5, 8};
  const tpf_dtype_t types[] = {TPF_FLOAT16, TPF_BFLOAT16, TPF_FLOAT32};
  const int64_t ks[] = {1, 7, 64, 257};
  const int64_t ns[] = {1, 5, 33, 130};
  const int64_t rows_per_rank[] = {1, 3, 17, 40};
  const int turns[] = {0, 1, 3, 7};
  int variant = 0, cases = 0;
  for (int op = 0; op < OPS; op++)
    for (size_t wi = 0; wi < sizeof worlds / sizeof *worlds; wi++)
      for (int ti = 0; ti < 3; ti++)
        for (int v = 0; v < (full ? 4 : 2); v++) {
          variant++;
          fcase_t c = {0};
          c.op = op, c.world_size = worlds[wi], c.dtype = types[ti];
          c.seed = seed + (uint64_t)variant * 7919u;
          c.k = ks[(variant + v) % 4], c.n = ns[(2 * variant + v) % 4];
          c.m = c.world_size * rows_per_rank[(variant + 3 * v) % 4];
          if ((op == OP_AR || op == OP_MMAR) && variant % 3 == 0) c.m += c.world_size > 1 ? c.world_size - 1 : 0;
          if ((op == OP_AR || op == OP_MMAR) && variant % 7 == 0) c.m = 1; /* fewer rows than ranks */
          c.uneven = variant % 4 == 1 && c.world_size > 1;
          if (c.uneven) c.m = 5 * c.world_size + 3;
          c.b_transposed = variant % 2;
          c.pad = variant % 3 == 2 ? 3 : 0;
          c.bias = variant % 3 != 1 && op != OP_AG;
          c.avg = (op == OP_AR || op == OP_MMAR) && variant % 4 == 3;
          c.comm_turn = turns[variant % 4];
          c.gathered = op == OP_AGMM && variant % 2 == 0;
          c.in_place = (op == OP_AG || c.gathered) && variant % 5 < 2;
          c.addend = op == OP_MMAR && variant % 3 == 0;
          c.per_rank = op == OP_MMAR && c.bias && variant % 2 == 0;
          c.integers = v % 2;
          c.processes = ranks;
          if (only_world && c.world_size != only_world) continue;
          check_case(c, ranks == RS_MPI ? v == 0 : ranks == RS_THREADS && variant % 9 == 0 && c.world_size <= 4);
          cases++;
        }
  printf("%d cases\n", cases);
  const int failed = test_summary();
#ifdef TPF_WITH_MPI
  if (ranks == RS_MPI) MPI_Finalize();
#endif
  return failed;
}
