/* Recording a call's events into the caller's tpf_trace_t, if any. */
#ifndef TPF_OPS_TRACE_H
#define TPF_OPS_TRACE_H

#include "common/clock.h"
#include "tpfuse.h"

/* The start of an event: a timestamp, taken only when tracing. */
static inline int64_t tpf_trace_begin(const tpf_trace_t *t) { return t ? tpf_now_ns() : 0; }

/* Appends the event that began at `begin` and ends now. */
static inline void tpf_trace_end(tpf_trace_t *t, int64_t begin, tpf_event_kind_t kind, int step, int chunk,
                                 int peer) {
  if (!t) return;
  if (t->count >= t->capacity) {
    t->dropped++;
    return;
  }
  t->events[t->count++] = (tpf_event_t){begin, tpf_now_ns(), (int32_t)kind, step, chunk, peer};
}

#endif
