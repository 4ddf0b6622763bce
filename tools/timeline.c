#include "timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct panel {
  char title[160];
  int ranks;
  int *counts;
  tpf_event_t **events;
  int64_t t0, t1; /* first begin, last end */
} panel_t;

struct timeline {
  panel_t *panels;
  int count;
};

static const char *const kind_names[] = {"compute", "wait", "reduce", "copy"};
static const char *const kind_colors[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b"};

timeline_t *timeline_new(void) { return calloc(1, sizeof(timeline_t)); }

void timeline_free(timeline_t *t) {
  if (!t) return;
  for (int i = 0; i < t->count; i++) {
    for (int r = 0; r < t->panels[i].ranks; r++) free(t->panels[i].events[r]);
    free(t->panels[i].events);
    free(t->panels[i].counts);
  }
  free(t->panels);
  free(t);
}

void timeline_add(timeline_t *t, const char *title, int ranks, tpf_event_t *const *events, const int *counts) {
  t->panels = realloc(t->panels, sizeof *t->panels * (size_t)(t->count + 1));
  panel_t *p = &t->panels[t->count++];
  snprintf(p->title, sizeof p->title, "%s", title);
  p->ranks = ranks;
  p->counts = calloc((size_t)ranks, sizeof *p->counts);
  p->events = calloc((size_t)ranks, sizeof *p->events);
  p->t0 = INT64_MAX;
  p->t1 = INT64_MIN;
  for (int r = 0; r < ranks; r++) {
    p->counts[r] = counts[r];
    p->events[r] = malloc(sizeof(tpf_event_t) * (size_t)(counts[r] ? counts[r] : 1));
    memcpy(p->events[r], events[r], sizeof(tpf_event_t) * (size_t)counts[r]);
    for (int e = 0; e < counts[r]; e++) {
      if (events[r][e].begin_ns < p->t0) p->t0 = events[r][e].begin_ns;
      if (events[r][e].end_ns > p->t1) p->t1 = events[r][e].end_ns;
    }
  }
  if (p->t0 > p->t1) p->t0 = p->t1 = 0;
}

static void event_label(const tpf_event_t *e, char *buf, size_t size) {
  int n = snprintf(buf, size, "%s", kind_names[e->kind & 3]);
  if (e->step >= 0) n += snprintf(buf + n, size - (size_t)n, " step %d", e->step);
  if (e->chunk >= 0) n += snprintf(buf + n, size - (size_t)n, " chunk %d", e->chunk);
  if (e->peer >= 0) snprintf(buf + n, size - (size_t)n, " rank %d", e->peer);
}

int timeline_write_trace(const timeline_t *t, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "{\"traceEvents\":[\n");
  int first = 1;
  for (int i = 0; i < t->count; i++) {
    const panel_t *p = &t->panels[i];
    fprintf(f, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"%s\"}}", first ? "" : ",\n", i,
            p->title);
    first = 0;
    for (int r = 0; r < p->ranks; r++) {
      fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"rank %d\"}}", i,
              r, r);
      for (int e = 0; e < p->counts[r]; e++) {
        const tpf_event_t *ev = &p->events[r][e];
        char label[96];
        event_label(ev, label, sizeof label);
        fprintf(f, ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}", label,
                kind_names[ev->kind & 3], i, r, (double)(ev->begin_ns - p->t0) / 1e3,
                (double)(ev->end_ns - ev->begin_ns) / 1e3);
      }
    }
  }
  fprintf(f, "\n]}\n");
  return fclose(f);
}

int timeline_write_svg(const timeline_t *t, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  const int width = 1000, left = 70, lane = 22, gap = 44;
  int height = 40;
  for (int i = 0; i < t->count; i++) height += gap + lane * t->panels[i].ranks;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
             "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width + 20, height);
  for (int k = 0; k < 4; k++) /* legend */
    fprintf(f, "<rect x=\"%d\" y=\"8\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"%d\" y=\"20\">%s</text>\n",
            left + k * 110, kind_colors[k], left + k * 110 + 18, kind_names[k]);
  int y = 40;
  for (int i = 0; i < t->count; i++) {
    const panel_t *p = &t->panels[i];
    double span = (double)(p->t1 - p->t0) > 0 ? (double)(p->t1 - p->t0) : 1;
    double scale = (width - left) / span;
    fprintf(f, "<text x=\"4\" y=\"%d\" font-weight=\"bold\">%s (%.1f us)</text>\n", y + 24, p->title, span / 1e3);
    y += gap - 12;
    for (int r = 0; r < p->ranks; r++, y += lane) {
      fprintf(f, "<text x=\"4\" y=\"%d\">rank %d</text>\n", y + 15, r);
      fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", left, y + lane - 1, width, y + lane - 1);
      for (int e = 0; e < p->counts[r]; e++) {
        const tpf_event_t *ev = &p->events[r][e];
        double x = left + (double)(ev->begin_ns - p->t0) * scale, w = (double)(ev->end_ns - ev->begin_ns) * scale;
        char label[96];
        event_label(ev, label, sizeof label);
        fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"><title>%s: %.1f us</title></rect>\n",
                x, y + 2, w < 0.5 ? 0.5 : w, lane - 5, kind_colors[ev->kind & 3], label,
                (double)(ev->end_ns - ev->begin_ns) / 1e3);
      }
    }
    y += 12;
  }
  fprintf(f, "</svg>\n");
  return fclose(f);
}
