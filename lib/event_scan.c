/* event_scan.c: scans of the event tables (event.h): index ranges read
   in short transactions of a few hundred keys (so that a report never
   holds read locks long enough to stall a writer), merged in time order
   with a heap, filtered on index values before any record is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

#define SCAN_CHUNK_MAX 256        /* entries one read of a range keeps */
#define SCAN_VISIT_MAX 1024       /* keys one read of a range looks at */

/* ---------- scans ---------- */

struct ent {
  unsigned char ts[EVENT_TS];
  size_t comp;                     /* offset of a composition in arena, or NONE */
  size_t rec, recn;                /* the record's copy in arena (recn 0: none) */
};
#define NONE ((size_t)-1)

struct stream {
  enum event_ix ix;
  struct event_scan *s;
  struct buf prefix;               /* every key of the range: prefix TS */
  struct buf comp;                 /* the partition; for ID ranges a filter or "" */
  struct buf from;                 /* where the next read starts */
  int done, stopped;
  struct ent *e;
  size_t n, i, cap, want, visited;
  struct buf arena;
};

struct event_scan {
  struct tbl *t;
  struct buf tenant;
  unsigned char lo[EVENT_TS], hi[EVENT_TS];
  int asc, empty, primed;
  struct stream **st, **heap;
  size_t nst, capst, nheap;
  int status, error;
  event_match_fn *fn;
  void *ctx;
  struct buf rec, key, scratch, cbscratch;
};

int event_scan_new(struct event_scan **sp, struct tbl *t, const char *tenant,
                   long long from, long long to, int oldest_first)
{
  struct event_scan *s;
  *sp = 0;
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  s = calloc(1, sizeof *s);
  if (!s) return -1;
  s->t = t;
  s->asc = oldest_first;
  if (buf_adds(&s->tenant, tenant) == -1) {
    free(s);
    return -1;
  }
  if (from < 0) from = 0;
  if (to > EVENT_TIME_MAX + 1) to = EVENT_TIME_MAX + 1;
  if (to <= from) s->empty = 1;
  else {
    evk_ts(s->lo, from * 1000000, 0);
    evk_ts(s->hi, to * 1000000 - 1, ~0ULL);
  }
  *sp = s;
  return 0;
}

int event_scan_add(struct event_scan *s, enum event_ix ix, const char *comp, const char *value)
{
  struct stream *st;
  int type = 0;
  if (s->primed) return errno = EINVAL, -1;
  if (ix != EVENT_IX_ID && !evk_name_ok(comp)) return errno = EINVAL, -1;
  if ((ix == EVENT_IX_RCPT || ix == EVENT_IX_DOMAIN || ix == EVENT_IX_SENDER || ix == EVENT_IX_ID)
      && !value)
    return errno = EINVAL, -1;
  if (s->nst == s->capst) {
    size_t nc = s->capst ? s->capst * 2 : 8;
    struct stream **n = realloc(s->st, nc * sizeof *n);
    if (!n) return -1;
    s->st = n;
    s->capst = nc;
  }
  st = calloc(1, sizeof *st);
  if (!st) return -1;
  s->st[s->nst++] = st;
  st->ix = ix;
  st->s = s;
  st->want = 32;
  if (ix == EVENT_IX_ID) {
    if (buf_addz(&st->prefix, s->tenant.s) == -1 || buf_addz(&st->prefix, value) == -1
        || buf_adds(&st->comp, comp ? comp : "") == -1)
      return -1;
  } else {
    if (evk_part(&st->prefix, s->tenant.s, comp) == -1 || buf_adds(&st->comp, comp) == -1)
      return -1;
    switch (ix) {
    case EVENT_IX_RCPT: type = IX_RCPT; break;
    case EVENT_IX_DOMAIN: type = IX_DOMAIN; break;
    case EVENT_IX_SENDER: type = IX_SENDER; break;
    case EVENT_IX_FAILED: type = IX_FAILED; break;
    case EVENT_IX_DEFERRED: type = IX_DEFERRED; break;
    default: break;
    }
    if (type && buf_addc(&st->prefix, (char)type) == -1) return -1;
    if ((type == IX_RCPT || type == IX_DOMAIN || type == IX_SENDER)
        && (evk_lower(&st->prefix, value) == -1 || buf_addc(&st->prefix, 0) == -1))
      return -1;
  }
  if (buf_set(&st->from, st->prefix.s, st->prefix.len) == -1
      || buf_add(&st->from, s->asc ? s->lo : s->hi, EVENT_TS) == -1)
    return -1;
  if (s->empty) st->done = 1;
  return 0;
}

void event_scan_filter(struct event_scan *s, int status, int error, event_match_fn *fn, void *ctx)
{
  s->status = status;
  s->error = error;
  s->fn = fn;
  s->ctx = ctx;
}

static const char *table_of(enum event_ix ix)
{
  return ix == EVENT_IX_TIME ? EVT_EVENT : ix == EVENT_IX_ID ? EVT_ID : EVT_IX;
}

static int fill_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct stream *st = ctx;
  struct event_scan *s = st->s;
  const unsigned char *ts;
  const char *k = kp;
  struct ent *en;
  struct event e;
  long long tm;
  int status = 0, error = -1;
  size_t comp = NONE;
  if (kn < st->prefix.len || memcmp(k, st->prefix.s, st->prefix.len)) {
    st->done = 1;
    return 1;
  }
  if (kn != st->prefix.len + EVENT_TS) return 0;
  ts = (const unsigned char *)k + st->prefix.len;
  if (s->asc ? memcmp(ts, s->hi, EVENT_TS) > 0 : memcmp(ts, s->lo, EVENT_TS) < 0) {
    st->done = 1;
    return 1;
  }
  if (st->n == st->want || st->visited == SCAN_VISIT_MAX) {
    /* Not looked at yet: the next read starts here. */
    if (buf_set(&st->from, k, kn) == -1) return -1;
    st->stopped = 1;
    return 1;
  }
  st->visited++;
  switch (st->ix) {
  case EVENT_IX_TIME:
    if (evk_head(v, vn, &tm, &status, &error) == -1) return 0;
    break;
  case EVENT_IX_RCPT: case EVENT_IX_DOMAIN: case EVENT_IX_SENDER:
    if (evk_ixval_parse(v, vn, &status, &error) == -1) return 0;
    break;
  case EVENT_IX_FAILED: case EVENT_IX_DEFERRED: {
    const char *p = v;
    size_t j;
    if (vn > 3) return 0;
    error = 0;
    for (j = 0; j < vn; j++) {
      if (p[j] < '0' || p[j] > '9') return 0;
      error = error * 10 + (p[j] - '0');
    }
    status = st->ix == EVENT_IX_FAILED ? EV_FAILED : EV_DEFERRED;
    break;
  }
  case EVENT_IX_ID: {
    size_t cn = strnlen(v, vn);
    if (cn + 2 != vn) return 0;
    status = ((const char *)v)[cn + 1] - '0';
    if (st->comp.len && strcmp(v, st->comp.s)) return 0;
    comp = st->arena.len;
    if (buf_add(&st->arena, v, cn + 1) == -1) return -1;
    break;
  }
  }
  if (s->status && status != s->status) return 0;
  if (s->error && error >= 0 && error != s->error) return 0;
  if (st->ix == EVENT_IX_TIME && s->fn) {
    if (event_decode(&e, v, vn, &s->cbscratch) == -1 || strcmp(e.tenant, s->tenant.s)) return 0;
    if (!s->fn(s->ctx, &e)) return 0;
  }
  if (st->n == st->cap) {
    size_t nc = st->cap ? st->cap * 2 : 32;
    struct ent *ne = realloc(st->e, nc * sizeof *ne);
    if (!ne) return -1;
    st->e = ne;
    st->cap = nc;
  }
  en = &st->e[st->n++];
  memcpy(en->ts, ts, EVENT_TS);
  en->comp = comp;
  en->recn = 0;
  if (st->ix == EVENT_IX_TIME) {
    en->rec = st->arena.len;
    en->recn = vn;
    if (buf_add(&st->arena, v, vn) == -1) return -1;
  }
  return 0;
}

/* Read the next entries of st's range.  0 or -1. */
static int fill(struct event_scan *s, struct stream *st, struct tbl_txn *x)
{
  int r, tries = 0;
  st->n = st->i = 0;
  st->visited = 0;
  buf_trunc(&st->arena, 0);
  while (!st->done && st->n == 0) {
    st->stopped = 0;
    st->visited = 0;
    r = tbl_walk(s->t, x, table_of(st->ix), st->from.s, st->from.len, !s->asc, fill_one, st);
    if (r < 0) {
      /* A reader can be a deadlock's victim too: read the chunk again
         (from is only moved by a read that ended well). */
      if (x || errno != EDEADLK || ++tries == EVENT_TXN_TRIES) return -1;
      st->n = 0;
      st->done = 0;
      buf_trunc(&st->arena, 0);
      continue;
    }
    if (!st->stopped) st->done = 1;
    else if (st->want < SCAN_CHUNK_MAX) st->want *= 2;
  }
  return 0;
}

/* A record by its key, again after a deadlock: 0, 1 absent, -1. */
static int get(struct event_scan *s)
{
  int r, tries = 0;
  while ((r = tbl_get(s->t, 0, EVT_EVENT, s->key.s, s->key.len, &s->rec)) == -1
         && errno == EDEADLK && ++tries < EVENT_TXN_TRIES) {}
  return r;
}

static int before(const struct event_scan *s, const struct stream *a, const struct stream *b)
{
  int c = memcmp(a->e[a->i].ts, b->e[b->i].ts, EVENT_TS);
  return s->asc ? c < 0 : c > 0;
}

static void sift(struct event_scan *s, size_t i)
{
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    struct stream *t;
    if (l < s->nheap && before(s, s->heap[l], s->heap[m])) m = l;
    if (r < s->nheap && before(s, s->heap[r], s->heap[m])) m = r;
    if (m == i) return;
    t = s->heap[i];
    s->heap[i] = s->heap[m];
    s->heap[m] = t;
    i = m;
  }
}

/* Streams in key order: many ranges (a substring search) are then read
   walking the index from one end to the other, each read finding its
   pages near the last one's, mostly in the cache. */
static int by_key(const void *a, const void *b)
{
  const struct stream *x = *(struct stream *const *)a, *y = *(struct stream *const *)b;
  size_t n = x->prefix.len < y->prefix.len ? x->prefix.len : y->prefix.len;
  int c;
  if (x->ix != y->ix) return x->ix < y->ix ? -1 : 1;
  c = memcmp(x->prefix.s, y->prefix.s, n);
  if (c) return c;
  return x->prefix.len < y->prefix.len ? -1 : x->prefix.len > y->prefix.len;
}

static int prime(struct event_scan *s)
{
  struct tbl_txn *x = 0;
  size_t i;
  if (s->nst > 1) qsort(s->st, s->nst, sizeof *s->st, by_key);
  s->heap = calloc(s->nst ? s->nst : 1, sizeof *s->heap);
  if (!s->heap) return -1;
  /* Many ranges (a substring search): their first reads share one
     transaction, which is much cheaper than one each; small reads. */
  if (s->nst > 16 && tbl_begin(s->t, &x) == -1) x = 0;
  for (i = 0; i < s->nst; i++) {
    struct stream *st = s->st[i];
    if (s->nst > 16) st->want = 4;
    if (fill(s, st, x) == -1) {
      if (!x || errno != EDEADLK) {
        if (x) tbl_abort(x);
        return -1;
      }
      /* A writer needed what we held: what was read stays read; the rest
         is read in transactions of its own. */
      tbl_abort(x);
      x = 0;
      st->done = 0;
      if (fill(s, st, 0) == -1) return -1;
    }
    if (st->n) s->heap[s->nheap++] = st;
  }
  if (x && tbl_commit(x) == -1) return -1;
  for (i = s->nheap; i-- > 0;) sift(s, i);
  s->primed = 1;
  return 0;
}

int event_scan_next(struct event_scan *s, struct event *e)
{
  if (!s->primed && prime(s) == -1) return -1;
  while (s->nheap) {
    struct stream *st = s->heap[0];
    struct ent *en = &st->e[st->i];
    int have = 1, r, matched = st->ix == EVENT_IX_TIME && s->fn;
    if (en->recn) {
      if (buf_set(&s->rec, st->arena.s + en->rec, en->recn) == -1) return -1;
    } else {
      const char *comp = en->comp == NONE ? st->comp.s : st->arena.s + en->comp;
      if (evk_part(&s->key, s->tenant.s, comp) == -1 || buf_add(&s->key, en->ts, EVENT_TS) == -1)
        return -1;
      r = get(s);
      if (r == -1) return -1;
      have = r == 0;               /* 1: purged between index and record */
    }
    if (++st->i == st->n && fill(s, st, 0) == -1) return -1;
    if (st->i == st->n) s->heap[0] = s->heap[--s->nheap];
    sift(s, 0);
    if (!have || event_decode(e, s->rec.s, s->rec.len, &s->scratch) == -1) continue;
    /* Every key starts with the tenant; the record says so too, or it is not shown. */
    if (strcmp(e->tenant, s->tenant.s)) continue;
    if (s->status && (int)e->status != s->status) continue;
    if (s->error && e->error != s->error) continue;
    if (!matched && s->fn && !s->fn(s->ctx, e)) continue;
    return 1;
  }
  return 0;
}

int event_scan_skip(struct event_scan *s, size_t n)
{
  if (!s->primed && prime(s) == -1) return -1;
  for (; n && s->nheap; n--) {
    struct stream *st = s->heap[0];
    if (++st->i == st->n && fill(s, st, 0) == -1) return -1;
    if (st->i == st->n) s->heap[0] = s->heap[--s->nheap];
    sift(s, 0);
  }
  return 0;
}

void event_scan_free(struct event_scan *s)
{
  size_t i;
  if (!s) return;
  for (i = 0; i < s->nst; i++) {
    struct stream *st = s->st[i];
    buf_free(&st->prefix);
    buf_free(&st->comp);
    buf_free(&st->from);
    buf_free(&st->arena);
    free(st->e);
    free(st);
  }
  free(s->st);
  free(s->heap);
  buf_free(&s->tenant);
  buf_free(&s->rec);
  buf_free(&s->key);
  buf_free(&s->scratch);
  buf_free(&s->cbscratch);
  free(s);
}

