/* Public entry points for the collective calls: the operators (a call
 * description for the pipeline, ops/operator.h), the memory the ranks
 * share, and a rank's refusal of a call. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/status.h"
#include "ops/agree.h"
#include "ops/fingerprint.h"
#include "ops/operator.h"
#include "registry.h"

/* What the memory calls and tpf_comm_reject do first (within their call on
 * the rank): a healthy communicator (failing here involves no peer) and a
 * blank fingerprint of `op`. */
static tpf_status_t begin_call(tpf_comm_t *comm, tpf_op_kind_t op, tpf_fingerprint_t *mine) {
  tpf_status_t s = comm->ep->transport->health(comm->ep);
  if (s != TPF_OK) return s;
  memset(mine, 0, sizeof *mine);
  mine->op = op;
  return TPF_OK;
}

static tpf_status_t mm_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                      tpf_matrix_t *out, const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_mm_reduce_scatter, &(tpf_call_t){a, b, out, NULL, opt});
}

static tpf_status_t reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                   const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_reduce_scatter, &(tpf_call_t){in, NULL, out, NULL, opt});
}

static tpf_status_t all_gather_mm(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                  tpf_matrix_t *out, tpf_matrix_t *gathered_a, const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_all_gather_mm, &(tpf_call_t){a, b, out, gathered_a, opt});
}

static tpf_status_t mm_all_reduce(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                  tpf_matrix_t *out, const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_mm_all_reduce, &(tpf_call_t){a, b, out, NULL, opt});
}

static tpf_status_t all_gather(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                               const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_all_gather, &(tpf_call_t){in, NULL, out, NULL, opt});
}

static tpf_status_t all_reduce(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                               const tpf_mm_options_t *opt) {
  return tpf_pipeline(comm, &tpf_op_all_reduce, &(tpf_call_t){in, NULL, out, NULL, opt});
}

static tpf_status_t mem_alloc(tpf_comm_t *comm, size_t bytes, void **ptr) {
  tpf_fingerprint_t mine;
  tpf_status_t s = begin_call(comm, TPF_OP_MEM_ALLOC, &mine);
  if (s != TPF_OK) return s;
  if (!ptr) s = tpf_fail(TPF_ERR_INVALID, "ptr is NULL: pass where to store the memory's address");
  else if (bytes == 0) s = tpf_fail(TPF_ERR_INVALID, "bytes=0: allocate at least one byte");
  else if (bytes > (size_t)1 << 46)
    s = tpf_fail(TPF_ERR_INVALID, "bytes=%zu is more than 64 TiB", bytes);
  if ((s = tpf_agree_start(comm, &mine, s, 0)) != TPF_OK) return s;
  void *made = NULL;
  if ((s = comm->ep->transport->share(comm->ep, bytes, &made)) != TPF_OK) return s;
  *ptr = made;
  return TPF_OK;
}

static tpf_status_t mem_free(tpf_comm_t *comm, void *ptr) {
  tpf_fingerprint_t mine;
  tpf_status_t s = begin_call(comm, TPF_OP_MEM_FREE, &mine);
  if (s != TPF_OK) return s;
  tpf_endpoint_t *ep = comm->ep;
  if (!ptr || ep->transport->shared_bytes(ep, ptr) == 0)
    s = tpf_fail(TPF_ERR_INVALID, "ptr=%p is not memory that tpf_mem_alloc gave rank %d of this communicator",
                 ptr, comm->rank);
  if ((s = tpf_agree_start(comm, &mine, s, 0)) != TPF_OK) return s;
  return ep->transport->unshare(ep, ptr);
}

static tpf_status_t comm_reject(tpf_comm_t *comm, tpf_status_t status, const char *why) {
  tpf_fingerprint_t mine;
  tpf_status_t s = begin_call(comm, TPF_OP_REJECT, &mine);
  if (s != TPF_OK) return s;
  if (status >= TPF_OK || status < TPF_ERR_INTERNAL)
    s = tpf_fail(TPF_ERR_INVALID, "status=%d must be an error status (TPF_ERR_*)", (int)status);
  else
    s = tpf_fail(status, "%s", why && why[0] ? why : "rejected by the caller");
  return tpf_agree_start(comm, &mine, s, 1);
}

/* The public entry points: each runs its body as the rank's one call on
 * the communicator (registry.h), so that destroy, or a second call from
 * another thread, is refused while it runs. */
#define AS_CALL(comm, body)                            \
  do {                                                 \
    tpf_status_t entered = tpf_registry_enter(comm);   \
    if (entered != TPF_OK) return entered;             \
    tpf_status_t result = body;                        \
    tpf_registry_leave(comm);                          \
    return result;                                     \
  } while (0)

tpf_status_t tpf_mm_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b,
                                   tpf_matrix_t *out, const tpf_mm_options_t *opt) {
  AS_CALL(comm, mm_reduce_scatter(comm, a, b, out, opt));
}

tpf_status_t tpf_reduce_scatter(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                                const tpf_mm_options_t *opt) {
  AS_CALL(comm, reduce_scatter(comm, in, out, opt));
}

tpf_status_t tpf_all_gather_mm(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b, tpf_matrix_t *out,
                               tpf_matrix_t *gathered_a, const tpf_mm_options_t *opt) {
  AS_CALL(comm, all_gather_mm(comm, a, b, out, gathered_a, opt));
}

tpf_status_t tpf_mm_all_reduce(tpf_comm_t *comm, const tpf_matrix_t *a, const tpf_matrix_t *b, tpf_matrix_t *out,
                               const tpf_mm_options_t *opt) {
  AS_CALL(comm, mm_all_reduce(comm, a, b, out, opt));
}

tpf_status_t tpf_all_gather(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                            const tpf_mm_options_t *opt) {
  AS_CALL(comm, all_gather(comm, in, out, opt));
}

tpf_status_t tpf_all_reduce(tpf_comm_t *comm, const tpf_matrix_t *in, tpf_matrix_t *out,
                            const tpf_mm_options_t *opt) {
  AS_CALL(comm, all_reduce(comm, in, out, opt));
}

tpf_status_t tpf_mem_alloc(tpf_comm_t *comm, size_t bytes, void **ptr) { AS_CALL(comm, mem_alloc(comm, bytes, ptr)); }

tpf_status_t tpf_mem_free(tpf_comm_t *comm, void *ptr) { AS_CALL(comm, mem_free(comm, ptr)); }

tpf_status_t tpf_comm_reject(tpf_comm_t *comm, tpf_status_t status, const char *why) {
  AS_CALL(comm, comm_reject(comm, status, why));
}
