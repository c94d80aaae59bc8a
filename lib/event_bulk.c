/* event_bulk.c: loading many events into the event tables in key order
   (event.h): the same entries as event_add (event_entries), but the
   records are written as they come (in time order, at the end of each
   partition) and every other table is kept in memory, sorted, and written
   in key order at the end, so that each write finds its page in the cache
   and pages fill up instead of splitting at random places.  For large
   loads into a quiet installation (restores, the benchmark): several
   times cheaper than event_add on a store of millions of events.  Its
   transactions are large and committed lazily: the caller checkpoints at
   the end (tbl_checkpoint) to make the load durable. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

#define BULK_TXN 2000              /* writes a transaction */
#define BULK_TABLES 4              /* event_id, event_ix, event_mid, event_addr */

struct sorted {
  const char *name;
  struct buf data;                 /* size_t kn, size_t vn, key, value ... */
  size_t n;
};

struct event_bulk {
  struct tbl *t;
  struct tbl_txn *x;
  size_t inx;                      /* writes in x */
  struct sorted tab[BULK_TABLES];
  struct evk_map once;             /* TABLE \0 KEY of entries written once */
  struct evk_map counts;           /* counter row -> struct event_counts */
  struct evk_map done;             /* TENANT \0 ID \0 RCPT of successes */
  size_t added;                    /* events since the last finish */
  struct buf k, scratch;
};

int event_bulk_new(struct event_bulk **bp, struct tbl *t)
{
  static const char *const names[BULK_TABLES] = { EVT_ID, EVT_IX, EVT_MID, EVT_ADDR };
  struct event_bulk *b = calloc(1, sizeof *b);
  int i;
  *bp = 0;
  if (!b) return -1;
  b->t = t;
  for (i = 0; i < BULK_TABLES; i++) b->tab[i].name = names[i];
  evk_map_init(&b->once, 1);
  evk_map_init(&b->counts, sizeof(struct event_counts));
  evk_map_init(&b->done, 1);
  *bp = b;
  return 0;
}

/* A write inside the current transaction, which is committed (lazily)
   every BULK_TXN writes. */
static int step(struct event_bulk *b)
{
  if (++b->inx < BULK_TXN) return 0;
  b->inx = 0;
  if (tbl_commit_lazy(b->x) == -1) {
    b->x = 0;
    return -1;
  }
  return tbl_begin(b->t, &b->x);
}

static int entry(void *ctx, const char *table, const void *k, size_t kn, const void *v,
                 size_t vn, int how)
{
  struct event_bulk *b = ctx;
  struct sorted *s = 0;
  int i, created;
  if (how == EVENT_ENTRY_COUNT) {
    struct event_counts *c = evk_map_get(&b->counts, k, kn, 0), d;
    if (!c || evk_counts_decode(&d, v, vn) == -1) return -1;
    for (i = 0; i < EVC_N; i++) c->n[i] += d.n[i];
    return 0;
  }
  if (!strcmp(table, EVT_EVENT)) {
    /* In time order: at the end of its partition. */
    int r = tbl_add(b->t, b->x, table, k, kn, v, vn);
    if (r == 1) errno = EEXIST;
    return r == 0 ? step(b) : -1;
  }
  if (how == EVENT_ENTRY_ONCE) {
    buf_trunc(&b->k, 0);
    if (buf_addz(&b->k, table) == -1 || buf_add(&b->k, k, kn) == -1
        || !evk_map_get(&b->once, b->k.s, b->k.len, &created))
      return -1;
    if (!created) return 0;
  }
  for (i = 0; i < BULK_TABLES; i++)
    if (!strcmp(table, b->tab[i].name)) s = &b->tab[i];
  if (!s) return errno = EINVAL, -1;
  if (buf_add(&s->data, &kn, sizeof kn) == -1 || buf_add(&s->data, &vn, sizeof vn) == -1
      || buf_add(&s->data, k, kn) == -1 || buf_add(&s->data, v, vn) == -1)
    return -1;
  s->n++;
  return 0;
}

int event_bulk_add(struct event_bulk *b, const struct event *e)
{
  int late = 0, created;
  if (!b->x && tbl_begin(b->t, &b->x) == -1) return -1;
  /* Late bounces: a success of the message and recipient loaded before. */
  if (e->status == EV_SUCCEEDED || e->status == EV_FAILED) {
    buf_trunc(&b->k, 0);
    if (buf_addz(&b->k, e->tenant ? e->tenant : "") == -1
        || buf_addz(&b->k, e->id ? e->id : "") == -1 || evk_lower(&b->k, e->rcpt ? e->rcpt : "") == -1)
      return -1;
    if (e->status == EV_SUCCEEDED) {
      if (!evk_map_get(&b->done, b->k.s, b->k.len, &created)) return -1;
    } else {
      late = evk_map_find(&b->done, b->k.s, b->k.len) != 0;
    }
  }
  b->added++;
  return event_entries(e, tbl_uniq(b->t), late, entry, b);
}

size_t event_bulk_pending(const struct event_bulk *b)
{
  return b->added;
}

static const char *sort_base;      /* for cmp: qsort has no context */

static int cmp(const void *pa, const void *pb)
{
  size_t a = *(const size_t *)pa, b = *(const size_t *)pb, an, bn, n;
  int c;
  memcpy(&an, sort_base + a, sizeof an);
  memcpy(&bn, sort_base + b, sizeof bn);
  n = an < bn ? an : bn;
  c = memcmp(sort_base + a + 2 * sizeof(size_t), sort_base + b + 2 * sizeof(size_t), n);
  return c ? c : (an > bn) - (an < bn);
}

static int write_sorted(struct event_bulk *b, struct sorted *s)
{
  size_t *at, i, off;
  int r = 0;
  if (!s->n) return 0;
  if (!(at = calloc(s->n, sizeof *at))) return -1;
  for (i = 0, off = 0; i < s->n; i++) {
    size_t kn, vn;
    at[i] = off;
    memcpy(&kn, s->data.s + off, sizeof kn);
    memcpy(&vn, s->data.s + off + sizeof kn, sizeof vn);
    off += 2 * sizeof kn + kn + vn;
  }
  sort_base = s->data.s;
  qsort(at, s->n, sizeof *at, cmp);
  for (i = 0; i < s->n && r == 0; i++) {
    const char *p = s->data.s + at[i];
    size_t kn, vn;
    memcpy(&kn, p, sizeof kn);
    memcpy(&vn, p + sizeof kn, sizeof vn);
    p += 2 * sizeof kn;
    /* Entries written once may be there from before the load. */
    r = tbl_add(b->t, b->x, s->name, p, kn, p + kn, vn) == -1 ? -1 : step(b);
  }
  free(at);
  buf_free(&s->data);
  s->n = 0;
  return r;
}

static int cmpslot(const void *pa, const void *pb)
{
  const struct evk_slot *a = *(const struct evk_slot *const *)pa;
  const struct evk_slot *b = *(const struct evk_slot *const *)pb;
  size_t n = a->kn < b->kn ? a->kn : b->kn;
  int c = memcmp(a->k, b->k, n);
  return c ? c : (a->kn > b->kn) - (a->kn < b->kn);
}

int event_bulk_finish(struct event_bulk *b)
{
  struct evk_slot **rows = 0;
  size_t i, n = 0;
  int r = 0, j;
  if (!b->x && tbl_begin(b->t, &b->x) == -1) return -1;
  for (j = 0; j < BULK_TABLES && r == 0; j++) r = write_sorted(b, &b->tab[j]);
  evk_map_free(&b->once);
  b->added = 0;
  if (r == 0 && b->counts.n && !(rows = calloc(b->counts.n, sizeof *rows))) r = -1;
  if (r == 0) {
    for (i = 0; i < b->counts.cap; i++)
      if (b->counts.slot[i].k) rows[n++] = &b->counts.slot[i];
    qsort(rows, n, sizeof *rows, cmpslot);
  }
  /* Counters add to rows that may be there already. */
  for (i = 0; i < n && r == 0; i++) {
    struct event_counts c, *d = rows[i]->v;
    int k, g = tbl_get_rmw(b->t, b->x, EVT_STAT, rows[i]->k, rows[i]->kn, &b->scratch);
    if (g == -1) { r = -1; break; }
    if (g == 1 || evk_counts_decode(&c, b->scratch.s, b->scratch.len) == -1) memset(&c, 0, sizeof c);
    for (k = 0; k < EVC_N; k++) c.n[k] += d->n[k];
    if (evk_counts_encode(&b->scratch, &c) == -1
        || tbl_put(b->t, b->x, EVT_STAT, rows[i]->k, rows[i]->kn, b->scratch.s, b->scratch.len) == -1
        || step(b) == -1)
      r = -1;
  }
  free(rows);
  evk_map_free(&b->counts);
  if (r == 0) {
    r = tbl_commit_lazy(b->x);
    b->x = 0;
  }
  return r;
}

void event_bulk_free(struct event_bulk *b)
{
  int i;
  if (!b) return;
  if (b->x) tbl_abort(b->x);
  for (i = 0; i < BULK_TABLES; i++) buf_free(&b->tab[i].data);
  evk_map_free(&b->once);
  evk_map_free(&b->counts);
  evk_map_free(&b->done);
  buf_free(&b->k);
  buf_free(&b->scratch);
  free(b);
}
