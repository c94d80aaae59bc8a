/* dqpool.c: deliver's table of running workers (dqpool.h).  The table is
   small (CMC_DELIVER_MAXPROCS): every question is a linear walk. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dqpool.h"

int dqpool_init(struct dqpool *p, size_t max)
{
  p->n = 0;
  p->max = max;
  if (!(p->w = calloc(max, sizeof *p->w))) return -1;
  return 0;
}

void dqpool_free(struct dqpool *p)
{
  free(p->w);
  p->w = 0;
  p->n = 0;
}

size_t dqpool_active(const struct dqpool *p, const char *key)
{
  size_t i, n = 0;
  for (i = 0; i < p->n; i++) if (!strcmp(p->w[i]->key, key)) n++;
  return n;
}

long long dqpool_interval_left(const struct dqpool *p, const char *key, unsigned interval,
                               long long now_ms)
{
  size_t i;
  for (i = 0; i < DQPOOL_LASTEND_MAX; i++)
    if (p->lastend[i].ms && !strcmp(p->lastend[i].key, key)) {
      long long left = p->lastend[i].ms + (long long)interval - now_ms;
      return left > 0 ? left : 0;
    }
  return 0;
}

void dqpool_lastend_note(struct dqpool *p, const char *key, long long now_ms)
{
  size_t i, slot = DQPOOL_LASTEND_MAX;
  if (strlen(key) >= sizeof p->lastend[0].key) return;
  for (i = 0; i < DQPOOL_LASTEND_MAX; i++) {
    if (p->lastend[i].ms && !strcmp(p->lastend[i].key, key)) { slot = i; break; }
    if (slot == DQPOOL_LASTEND_MAX && (!p->lastend[i].ms || now_ms - p->lastend[i].ms > DSET_INTERVAL_MAX))
      slot = i;
  }
  if (slot == DQPOOL_LASTEND_MAX) return;   /* full of recent ones: pacing per connection only */
  memcpy(p->lastend[slot].key, key, strlen(key) + 1);
  p->lastend[slot].ms = now_ms;
}

void dqpool_sending_ip(const struct dqpool *p, const struct dqsched_group *gr,
                       struct dqsched_job *sj)
{
  const char *ips[DSET_IPS_MAX];
  size_t n = dsetrun_ips(p->ds, sj->job.item[0].m, gr->nips, gr->dest, ips, DSET_IPS_MAX), i, k;
  size_t best = 0, bestn = (size_t)-1;
  sj->job.local_ip[0] = 0;
  for (i = 0; i < n; i++) {
    size_t c = 0;
    for (k = 0; k < p->n; k++)
      if (!strcmp(p->w[k]->key, gr->key) && !strcmp(p->w[k]->job.local_ip, ips[i])) c++;
    if (c < bestn) { bestn = c; best = i; }
  }
  if (n) snprintf(sj->job.local_ip, sizeof sj->job.local_ip, "%s", ips[best]);
}

void dqpool_yield(struct dqpool *p, struct dqpool_worker *w, const char *why)
{
  struct buf line = BUF_ZERO;
  if (w->yielded || w->fd == -1 || kill(w->pid, SIGUSR1) == -1) return;
  w->yielded = 1;
  if (p->log && buf_printf(&line, "yield dest=%s pid=%ld why=%s", w->key, (long)w->pid, why) == 0)
    p->log(line.s);
  buf_free(&line);
}

/* 1 if a recipient of w's job without a result yet is now held by a
   prohibited time window. */
static int holds(const struct dqpool *p, const struct dqpool_worker *w, long long now)
{
  size_t i, k;
  for (i = 0; i < w->job.nitem; i++)
    for (k = 0; k < w->job.item[i].n; k++)
      if (w->job.item[i].m->r[w->job.item[i].idx[k]].busy
          && dsetrun_hold(p->ds, w->job.item[i].m, w->job.item[i].idx[k], now))
        return 1;
  return 0;
}

void dqpool_windows(struct dqpool *p, long long now)
{
  size_t i;
  for (i = 0; i < p->n; i++)
    if (!p->w[i]->yielded && holds(p, p->w[i], now)) dqpool_yield(p, p->w[i], "window");
}

/* The highest priority among the recipients of w's job that have no
   result yet. */
static unsigned char busy_prio(const struct dqpool_worker *w)
{
  unsigned char prio = 0;
  size_t i, k;
  for (i = 0; i < w->job.nitem; i++)
    for (k = 0; k < w->job.item[i].n; k++) {
      const struct dq_rcpt *rc = &w->job.item[i].m->r[w->job.item[i].idx[k]];
      if (rc->busy && rc->prio > prio) prio = rc->prio;
    }
  return prio;
}

void dqpool_make_room(struct dqpool *p, const struct dqsched_group *gr)
{
  unsigned char want = gr->item[gr->taken].m->r[gr->item[gr->taken].idx[0]].prio;
  size_t i;
  for (i = 0; i < p->n; i++)
    if (!strcmp(p->w[i]->key, gr->key) && p->w[i]->yielded) return;
  for (i = 0; i < p->n; i++) {
    struct dqpool_worker *w = p->w[i];
    if (strcmp(w->key, gr->key) || w->fd == -1 || busy_prio(w) >= want) continue;
    dqpool_yield(p, w, "priority");
    return;
  }
}
