/* MatmulReduceScatter and the reduce-scatter over a message transport
 * (see schedules_msg.c): the same algorithms, order of sums and results as
 * over shared memory. */
#ifndef TPF_OPS_SCHEDULES_MSG_H
#define TPF_OPS_SCHEDULES_MSG_H

#include "mm_reduce_scatter.h"
#include "reduce_scatter.h"

/* This rank's buffer bytes and request slots for the problem. */
size_t tpf_mm_rs_msg_buffer_bytes(const tpf_rs_problem_t *p, int size);
int tpf_mm_rs_msg_requests(const tpf_rs_problem_t *p, int size);
tpf_status_t tpf_mm_rs_msg_run(tpf_comm_t *comm, const tpf_rs_problem_t *p);

size_t tpf_rsc_msg_buffer_bytes(const tpf_rsc_problem_t *p, int size);
int tpf_rsc_msg_requests(const tpf_rsc_problem_t *p, int size);
tpf_status_t tpf_rsc_msg_run(tpf_comm_t *comm, const tpf_rsc_problem_t *p);

#endif
