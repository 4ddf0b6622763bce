#include "agree.h"

#include <stdio.h>

#include "common/status.h"

_Static_assert(sizeof(tpf_fingerprint_t) <= TPF_EXCHANGE_MAX_BYTES, "a fingerprint must fit an exchange record");

/* Fails the communicator with status s in the words of the error just
 * recorded (data may already travel that nobody will receive). */
static void fail_with_last_error(tpf_endpoint_t *ep, tpf_status_t s) {
  char why[700];
  snprintf(why, sizeof why, "%s", tpf_last_error());
  ep->transport->fail(ep, s, why);
  tpf_record(s, "%s", why); /* (fail may record words of its own) */
}

tpf_status_t tpf_agree_finish(tpf_comm_t *comm) {
  if (!comm->agreement_pending) return TPF_OK;
  comm->agreement_pending = 0;
  tpf_endpoint_t *ep = comm->ep;
  tpf_status_t s = ep->transport->exchange_finish(ep);
  if (s == TPF_OK) s = tpf_fingerprint_agree(comm->fingerprints, comm->size, comm->rank);
  if (s != TPF_OK) fail_with_last_error(ep, s);
  return s;
}

tpf_status_t tpf_agree_start(tpf_comm_t *comm, tpf_fingerprint_t *mine, tpf_status_t local, int lazy) {
  tpf_endpoint_t *ep = comm->ep;
  const tpf_transport_t *tr = ep->transport;
  char own_error[sizeof mine->rejection];
  snprintf(own_error, sizeof own_error, "%s", tpf_last_error());
  if (local != TPF_OK) {
    mine->status = (int32_t)local;
    snprintf(mine->rejection, sizeof mine->rejection, "%s", own_error);
  }
  const int split = lazy && tpf_transport_is_message(tr) && comm->reach == TPF_REACH_MESSAGES;
  tpf_status_t s = split ? tr->exchange_start(ep, mine, comm->fingerprints, sizeof *mine)
                         : tr->exchange(ep, mine, comm->fingerprints, sizeof *mine);
  comm->agreement_pending = split && s == TPF_OK;
  if (s != TPF_OK) return local != TPF_OK ? tpf_record(local, "%s", own_error) : s;
  if (local != TPF_OK) {
    /* Peers that started lazily may already send to this rank, which will
     * not receive: the communicator fails on every rank with the words
     * its peers give (a peer's verdict), and this rank keeps its own. */
    if (comm->agreement_pending) {
      comm->agreement_pending = 0;
      if (tr->exchange_finish(ep) == TPF_OK) {
        tpf_fingerprint_agree(comm->fingerprints, comm->size, (comm->rank + 1) % comm->size);
        fail_with_last_error(ep, TPF_ERR_PEER);
      }
    }
    return tpf_record(local, "%s", own_error);
  }
  return comm->agreement_pending ? TPF_OK : tpf_fingerprint_agree(comm->fingerprints, comm->size, comm->rank);
}
