#include "copy_choice.h"

/* The other way is tried every FIRST_PERIOD calls after it wins or at the
 * start, then half as often each time it loses, down to once in
 * LAST_PERIOD calls: a losing way then costs a fraction of a percent (one
 * slower call in 1024), and a change of the machine's state is found
 * within LAST_PERIOD calls of a class. */
enum { FIRST_PERIOD = 8, LAST_PERIOD = 1024 };

int tpf_copy_class(size_t bytes) {
  int cls = 0;
  for (size_t b = bytes >> 12; b > 1 && cls < TPF_COPY_CLASSES - 1; b >>= 1) cls++; /* 4 KiB and less: class 0 */
  return cls;
}

int tpf_copy_pick(const tpf_copy_choice_t *choice, int cls) {
  const tpf_copy_way_t *c = &choice->classes[cls];
  uint32_t period = c->period ? c->period : FIRST_PERIOD;
  return (c->calls + 1) % period == 0 ? !c->best : c->best;
}

void tpf_copy_learn(tpf_copy_choice_t *choice, int cls, int way, int64_t ns) {
  tpf_copy_way_t *c = &choice->classes[cls];
  if (!c->period) c->period = FIRST_PERIOD;
  if (++c->calls == 1) return; /* the first call also grows and touches buffers */
  if (ns < 1) ns = 1;
  if (way == c->best) { /* many calls: a moving average, a quarter weight on the newest */
    c->cost_ns[way] = c->cost_ns[way] ? (3 * c->cost_ns[way] + ns) / 4 : ns;
    return;
  }
  c->cost_ns[way] = ns; /* a single try: taken as it is */
  /* Switch only for a clear gain (5%): the machine's noise is a few
   * percent, and a wrong switch is undone at the next try anyway. */
  if (c->cost_ns[c->best] == 0 || 20 * ns < 19 * c->cost_ns[c->best]) {
    c->best = way;
    c->period = FIRST_PERIOD;
  } else if (c->period < LAST_PERIOD) {
    c->period *= 2;
  }
}
