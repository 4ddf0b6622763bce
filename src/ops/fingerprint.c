#include "fingerprint.h"

#include <stddef.h>
#include <stdio.h>

#include "common/half.h"
#include "common/status.h"

uint64_t tpf_hash_counts(const int64_t *counts, int n) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < n; i++)
    for (int b = 0; b < 8; b++) {
      h ^= (uint64_t)(counts[i] >> (8 * b)) & 0xffu;
      h *= 1099511628211ull;
    }
  return h;
}

static const char *algo_name(int a) {
  return a == TPF_ALGO_RING ? "ring" : a == TPF_ALGO_UNFUSED ? "unfused" : a == TPF_ALGO_DIRECT ? "direct" : "auto";
}

/* Writes a field's value in words into buf. */
typedef void (*describe_fn)(const tpf_fingerprint_t *f, char *buf, size_t size);

static void d_op(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "%s", f->op == TPF_OP_MM_REDUCE_SCATTER ? "tpf_mm_reduce_scatter"
                       : f->op == TPF_OP_REDUCE_SCATTER  ? "tpf_reduce_scatter"
                       : f->op == TPF_OP_MEM_ALLOC       ? "tpf_mem_alloc"
                       : f->op == TPF_OP_MEM_FREE        ? "tpf_mem_free"
                       : f->op == TPF_OP_REJECT          ? "tpf_comm_reject"
                       : f->op == TPF_OP_ALL_GATHER      ? "tpf_all_gather"
                       : f->op == TPF_OP_ALL_REDUCE      ? "tpf_all_reduce"
                       : f->op == TPF_OP_ALL_GATHER_MM   ? "tpf_all_gather_mm"
                       : f->op == TPF_OP_MM_ALL_REDUCE   ? "tpf_mm_all_reduce"
                                                         : "another operator");
}
static void d_m(const tpf_fingerprint_t *f, char *b, size_t z) { snprintf(b, z, "m=%lld", (long long)f->m); }
static void d_n(const tpf_fingerprint_t *f, char *b, size_t z) { snprintf(b, z, "n=%lld", (long long)f->n); }
static void d_k(const tpf_fingerprint_t *f, char *b, size_t z) { snprintf(b, z, "k=%lld", (long long)f->k); }
static void d_dtype(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "dtype %s", tpf_dtype_name((tpf_dtype_t)f->dtype));
}
static void d_reduce(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "reduce_op %s", f->reduce_op == TPF_AVG ? "avg" : "sum");
}
static void d_bias(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "%s", f->has_bias ? "a bias" : "no bias");
}
static void d_addend(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "%s", f->has_addend ? "an addend" : "no addend");
}
static void d_per_rank(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "bias_per_rank=%d", f->bias_per_rank);
}
static void d_gathers(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "%s", f->gathers ? "a gathered_a" : "no gathered_a");
}
static void d_turn(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "comm_turn=%d", f->comm_turn);
}
static void d_algo(const tpf_fingerprint_t *f, char *b, size_t z) {
  snprintf(b, z, "algorithm %s", algo_name(f->algo));
}
static void d_split(const tpf_fingerprint_t *f, char *b, size_t z) {
  if (f->even_split) snprintf(b, z, "an even split (row_counts NULL)");
  else snprintf(b, z, "row_counts with hash %016llx", (unsigned long long)f->row_counts_hash);
}

static int same_op(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->op == y->op; }
static int same_m(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->m == y->m; }
static int same_n(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->n == y->n; }
static int same_k(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->k == y->k; }
static int same_dtype(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->dtype == y->dtype; }
static int same_reduce(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->reduce_op == y->reduce_op; }
static int same_bias(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->has_bias == y->has_bias; }
static int same_addend(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->has_addend == y->has_addend; }
static int same_per_rank(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) {
  return x->bias_per_rank == y->bias_per_rank;
}
static int same_gathers(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->gathers == y->gathers; }
static int same_turn(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->comm_turn == y->comm_turn; }
static int same_algo(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) { return x->algo == y->algo; }
static int same_split(const tpf_fingerprint_t *x, const tpf_fingerprint_t *y) {
  return x->even_split == y->even_split && x->row_counts_hash == y->row_counts_hash;
}

static const struct {
  int (*same)(const tpf_fingerprint_t *, const tpf_fingerprint_t *);
  describe_fn describe;
} fields[] = {
    {same_op, d_op},         {same_m, d_m},         {same_n, d_n},
    {same_k, d_k},           {same_dtype, d_dtype}, {same_reduce, d_reduce},
    {same_bias, d_bias},     {same_turn, d_turn},   {same_split, d_split},
    {same_algo, d_algo},     {same_addend, d_addend}, {same_per_rank, d_per_rank},
    {same_gathers, d_gathers},
};

static int overlap(const uint64_t *x, const uint64_t *y) {
  return x[0] != x[1] && y[0] != y[1] && x[0] < y[1] && y[0] < x[1];
}

tpf_status_t tpf_fingerprint_no_aliasing(const tpf_fingerprint_t *all, int size, const char *const *read_names,
                                         const char *const *write_names) {
  for (int p = 0; p < size; p++)
    for (int q = 0; q < size; q++) {
      if (q == p) continue; /* a rank's own overlaps are its local checks' */
      for (int w = 0; w < TPF_FINGERPRINT_WRITES; w++) {
        for (int v = 0; v < TPF_FINGERPRINT_WRITES; v++)
          if (overlap(all[p].writes[w], all[q].writes[v]))
            return tpf_fail(TPF_ERR_INVALID, "rank %d's %s overlaps rank %d's %s in memory: ranks of one process "
                            "must not write what another rank of the call reads or writes", p, write_names[w], q,
                            write_names[v]);
        for (int i = 0; i < TPF_FINGERPRINT_READS; i++)
          if (overlap(all[p].writes[w], all[q].reads[i]))
            return tpf_fail(TPF_ERR_INVALID, "rank %d's %s overlaps rank %d's %s in memory: ranks of one process "
                            "must not write what another rank of the call reads or writes", p, write_names[w], q,
                            read_names[i]);
      }
    }
  return TPF_OK;
}

tpf_status_t tpf_fingerprint_agree(const tpf_fingerprint_t *all, int size, int me) {
  if (all[me].status != TPF_OK) /* already recorded by the caller */
    return (tpf_status_t)all[me].status;
  for (int q = 0; q < size; q++)
    if (all[q].status != TPF_OK)
      return tpf_record(TPF_ERR_PEER, "rank %d rejected its arguments (%s: %.*s)", q,
                      tpf_status_string(tpf_status_checked(all[q].status)), (int)sizeof all[q].rejection - 1,
                      all[q].rejection);
  for (int q = 1; q < size; q++)
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
      if (fields[f].same(&all[0], &all[q])) continue;
      char theirs[160], first[160];
      fields[f].describe(&all[q], theirs, sizeof theirs);
      fields[f].describe(&all[0], first, sizeof first);
      return tpf_fail(TPF_ERR_MISMATCH, "ranks called with different arguments: rank %d passed %s but rank 0 passed %s",
                      q, theirs, first);
    }
  return TPF_OK;
}
