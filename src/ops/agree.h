/* The agreement of a call's ranks on its fingerprint (fingerprint.h).
 *
 * Over shared memory it is one exchange, complete before any data moves.
 * Over messages, an operator's agreement is lazy: its fingerprint travels
 * alongside its first data messages instead of one round trip ahead of
 * them, and the verdict is taken before anything received is used. A
 * disagreement found that way fails the communicator on every rank (the
 * data already sent has no matching receive any more): the call and every
 * later one return the error. */
#ifndef TPF_OPS_AGREE_H
#define TPF_OPS_AGREE_H

#include "comm.h"

/* Starts the agreement on `mine`, or on this rank's rejection `local`
 * (its error recorded) when that is not TPF_OK. Returns the verdict
 * (tpf_fingerprint_agree's) when it is complete; with `lazy`, over
 * messages, TPF_OK while peers' fingerprints still travel: then the call
 * may send, but must take tpf_agree_finish's verdict before it uses
 * anything received. A rejecting rank always waits for the verdict. */
tpf_status_t tpf_agree_start(tpf_comm_t *comm, tpf_fingerprint_t *mine, tpf_status_t local, int lazy);

/* The verdict of a lazy agreement (TPF_OK at once when none travels). */
tpf_status_t tpf_agree_finish(tpf_comm_t *comm);

#endif
