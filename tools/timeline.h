/* Timelines of traced calls: a Chrome trace (open it in Perfetto or
 * chrome://tracing) and an SVG picture (open it in a browser). */
#ifndef TPF_TOOLS_TIMELINE_H
#define TPF_TOOLS_TIMELINE_H

#include "tpfuse.h"

typedef struct timeline timeline_t;

timeline_t *timeline_new(void);
void timeline_free(timeline_t *t);

/* Adds one traced call: events[r][0 .. counts[r]) of ranks r < ranks,
 * under a title (copied). */
void timeline_add(timeline_t *t, const char *title, int ranks, tpf_event_t *const *events, const int *counts);

/* Writes every call added; 0 on success. */
int timeline_write_trace(const timeline_t *t, const char *path);
int timeline_write_svg(const timeline_t *t, const char *path);

#endif
