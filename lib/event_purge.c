/* event_purge.c: removing old events with everything that points at
   them, and old counter rows (event.h, event_key.h, doc/reports.md).  A
   purge works in transactions of at most a few hundred events, so that a
   writer never waits long for it; it reads what to remove first, outside
   the transaction that removes it, and asks its caller (outside any
   transaction) whether a message's events must stay. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

struct victim {
  unsigned char ts[EVENT_TS];
  size_t rec, recn;                /* the record in arena */
  int keep;
};

struct pick {
  const char *prefix;              /* P */
  size_t prefixn;
  unsigned char before[EVENT_TS];
  size_t max;
  struct victim *v;
  size_t n, cap;
  struct buf arena;
  int more;
};

static int pick_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct pick *p = ctx;
  const unsigned char *ts;
  if (kn != p->prefixn + EVENT_TS || memcmp(k, p->prefix, p->prefixn)) return 1;
  ts = (const unsigned char *)k + p->prefixn;
  if (memcmp(ts, p->before, EVENT_TS) >= 0) return 1;
  if (p->n == p->max) {
    p->more = 1;
    return 1;
  }
  if (p->n == p->cap) {
    size_t nc = p->cap ? p->cap * 2 : 64;
    struct victim *nv = realloc(p->v, nc * sizeof *nv);
    if (!nv) return -1;
    p->v = nv;
    p->cap = nc;
  }
  memcpy(p->v[p->n].ts, ts, EVENT_TS);
  p->v[p->n].rec = p->arena.len;
  p->v[p->n].recn = vn;
  p->v[p->n].keep = 0;
  p->n++;
  return buf_add(&p->arena, v, vn) == -1 ? -1 : 0;
}

static int del(struct tbl *t, struct tbl_txn *x, const char *table, const struct buf *k)
{
  return tbl_del(t, x, table, k->s, k->len) == -1 ? -1 : 0;
}

struct purge_tx {
  struct buf key, k2, scratch;
  struct evk_ents ents;
  struct evk_map ids, rcpts;       /* of the removed events: checked at the end */
};

/* Remove the address table's entries of rcpt (lower case). */
static int drop_address(struct tbl *t, struct tbl_txn *x, struct purge_tx *w,
                        const char *tenant, const char *comp, const char *rcpt)
{
  size_t i, last = evk_addr_positions(rcpt);
  for (i = 0; i < last; i++)
    if (evk_addr_key(&w->k2, tenant, comp, rcpt, i) == -1 || del(t, x, EVT_ADDR, &w->k2) == -1)
      return -1;
  if (strlen(rcpt) > EVENT_ADDR_SUFFIX_MAX
      && (evk_addr_other(&w->k2, tenant, comp, ADDR_LONG, rcpt) == -1
          || del(t, x, EVT_ADDR, &w->k2) == -1))
    return -1;
  return 0;
}

static int purge_tx(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                    struct pick *p, struct purge_tx *w, struct event_purge *out)
{
  struct event e;
  size_t i;
  int r;
  evk_map_free(&w->ids);
  evk_map_free(&w->rcpts);
  for (i = 0; i < p->n; i++) {
    size_t j;
    struct victim *v = &p->v[i];
    if (v->keep) continue;
    /* An unreadable record goes too; its index entries cannot be known. */
    int readable = event_decode(&e, p->arena.s + v->rec, v->recn, &w->scratch) == 0;
    if (evk_part(&w->key, tenant, comp) == -1 || buf_add(&w->key, v->ts, EVENT_TS) == -1)
      return -1;
    r = tbl_del(t, x, EVT_EVENT, w->key.s, w->key.len);
    if (r == -1) return -1;
    if (r == 1) continue;          /* another purge was here first */
    out->removed++;
    if (!readable) continue;
    if (evk_ents_build(&w->ents, &e, v->ts) == -1) return -1;
    for (j = 0; j < w->ents.n; j++)
      if (del(t, x, w->ents.e[j].table, &w->ents.e[j].k) == -1) return -1;
    /* id \0 message-id, to look at once the batch is gone */
    buf_trunc(&w->k2, 0);
    if (buf_addz(&w->k2, e.id) == -1 || buf_adds(&w->k2, e.message_id) == -1
        || !evk_map_get(&w->ids, w->k2.s, w->k2.len, 0))
      return -1;
    if (w->ents.rcpt.len && !evk_map_get(&w->rcpts, w->ents.rcpt.s, w->ents.rcpt.len, 0))
      return -1;
  }
  /* A message whose last event went: its Message-ID entry goes too. */
  for (i = 0; i < w->ids.cap; i++) {
    const char *id = w->ids.slot[i].k, *mid;
    if (!id) continue;
    mid = id + strlen(id) + 1;
    buf_trunc(&w->k2, 0);
    if (buf_addz(&w->k2, tenant) == -1 || buf_addz(&w->k2, id) == -1) return -1;
    if ((r = evk_any(t, x, EVT_ID, w->k2.s, w->k2.len)) == -1) return -1;
    if (r || !*mid) continue;
    buf_trunc(&w->k2, 0);
    if (buf_addz(&w->k2, tenant) == -1 || buf_addz(&w->k2, mid) == -1
        || buf_adds(&w->k2, id) == -1)
      return -1;
    if ((r = tbl_del(t, x, EVT_MID, w->k2.s, w->k2.len)) == -1) return -1;
    if (r == 0) out->messages++;
  }
  /* A recipient without events left in the partition leaves the address table. */
  for (i = 0; i < w->rcpts.cap; i++) {
    const char *rc = w->rcpts.slot[i].k, *dom;
    if (!rc) continue;
    if (evk_part(&w->k2, tenant, comp) == -1 || buf_addc(&w->k2, IX_RCPT) == -1
        || buf_addz(&w->k2, rc) == -1)
      return -1;
    if ((r = evk_any(t, x, EVT_IX, w->k2.s, w->k2.len)) == -1) return -1;
    if (r) continue;
    if (drop_address(t, x, w, tenant, comp, rc) == -1) return -1;
    out->addresses++;
    /* and its domain, when no recipient of it is left */
    dom = evk_domain(rc);
    if (!*dom) continue;
    if (evk_part(&w->k2, tenant, comp) == -1 || buf_addc(&w->k2, IX_DOMAIN) == -1
        || buf_addz(&w->k2, dom) == -1)
      return -1;
    if ((r = evk_any(t, x, EVT_IX, w->k2.s, w->k2.len)) == -1) return -1;
    if (!r && (evk_addr_other(&w->k2, tenant, comp, ADDR_DOMAIN, dom) == -1
               || del(t, x, EVT_ADDR, &w->k2) == -1))
      return -1;
  }
  return 0;
}

int event_purge(struct tbl *t, const char *tenant, const char *comp, long long before,
                size_t max, event_keep_fn *keep, void *ctx, struct event_purge *out)
{
  struct pick p;
  struct purge_tx w;
  struct buf from = BUF_ZERO;
  struct evk_map kept;
  struct event_purge res;
  struct tbl_txn *x;
  size_t i;
  int r = -1, tries;
  memset(&p, 0, sizeof p);
  memset(&w, 0, sizeof w);
  evk_map_init(&w.ids, 1);
  evk_map_init(&w.rcpts, 1);
  evk_map_init(&kept, sizeof(int));
  if (!evk_name_ok(tenant) || !evk_name_ok(comp) || !max) return errno = EINVAL, -1;
  if (before > EVENT_TIME_MAX) before = EVENT_TIME_MAX;
  if (before < 0) before = 0;
  evk_ts(p.before, before * 1000000, 0);
  if (evk_part(&from, tenant, comp) == -1) goto out;
  p.prefix = from.s;               /* P, before anything is appended */
  p.prefixn = from.len;
  p.max = max;
  if (buf_add(&from, out->resumed ? out->resume : (const unsigned char *)"", out->resumed ? EVENT_TS : 0) == -1)
    goto out;
  p.prefix = from.s;
  /* What to remove: read in a transaction of its own. */
  if (tbl_walk(t, 0, EVT_EVENT, from.s, from.len, 0, pick_one, &p) < 0) goto out;
  if (out->resumed && p.n && !memcmp(p.v[0].ts, out->resume, EVENT_TS)) {
    /* the resume point itself was seen last time */
    memmove(p.v, p.v + 1, (p.n - 1) * sizeof *p.v);
    p.n--;
  }
  if (p.n == 0) {
    r = 0;
    goto out;
  }
  /* Messages deliver still has keep their events; asked outside any transaction. */
  for (i = 0; keep && i < p.n; i++) {
    struct event e;
    int *k, created;
    if (event_decode(&e, p.arena.s + p.v[i].rec, p.v[i].recn, &w.scratch) == -1) continue;
    if (!(k = evk_map_get(&kept, e.id, strlen(e.id), &created))) goto out;
    if (created && (*k = keep(ctx, e.id)) == -1) {
      *k = 0;
      goto out;
    }
    p.v[i].keep = *k == 1;
  }
  for (tries = 0; tries < EVENT_TXN_TRIES; tries++) {
    res = *out;
    if (tbl_begin(t, &x) == -1) goto out;
    if (purge_tx(t, x, tenant, comp, &p, &w, &res) == 0) {
      /* Not durable at once: a purge lost to a crash is simply done again. */
      if (tbl_commit_lazy(x) == -1) goto out;
      r = 0;
      break;
    }
    tbl_abort(x);
    if (errno != EDEADLK) goto out;
  }
  if (r != 0) goto out;
  for (i = 0; i < p.n; i++) if (p.v[i].keep) res.kept++;
  res.resumed = 1;
  memcpy(res.resume, p.v[p.n - 1].ts, EVENT_TS);
  *out = res;
  r = p.more;
out:
  free(p.v);
  buf_free(&p.arena);
  buf_free(&from);
  buf_free(&w.key);
  buf_free(&w.k2);
  buf_free(&w.scratch);
  evk_ents_free(&w.ents);
  evk_map_free(&w.ids);
  evk_map_free(&w.rcpts);
  evk_map_free(&kept);
  return r;
}

struct oldest {
  const char *prefix;
  size_t prefixn;
  const unsigned char *after;
  long long time;
  int found;
};

static int oldest_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct oldest *o = ctx;
  (void)v; (void)vn;
  if (kn != o->prefixn + EVENT_TS || memcmp(k, o->prefix, o->prefixn)) return 1;
  if (o->after && !memcmp((const char *)k + o->prefixn, o->after, EVENT_TS)) return 0;
  o->time = evk_ts_us((const unsigned char *)k + o->prefixn) / 1000000;
  o->found = 1;
  return 1;
}

int event_oldest(struct tbl *t, const char *tenant, const char *comp,
                 const struct event_purge *p, long long *time)
{
  struct oldest o;
  struct buf k = BUF_ZERO;
  int r;
  memset(&o, 0, sizeof o);
  if (!evk_name_ok(tenant) || !evk_name_ok(comp)) return errno = EINVAL, -1;
  if (evk_part(&k, tenant, comp) == -1) return -1;
  o.prefixn = k.len;
  if (p && p->resumed) {
    if (buf_add(&k, p->resume, EVENT_TS) == -1) {
      buf_free(&k);
      return -1;
    }
    o.after = p->resume;
  }
  o.prefix = k.s;
  r = tbl_walk(t, 0, EVT_EVENT, k.s, k.len, 0, oldest_one, &o);
  buf_free(&k);
  if (r < 0) return -1;
  if (!o.found) return 1;
  *time = o.time;
  return 0;
}

struct rows {
  const char *prefix;
  size_t prefixn;
  long long before;
  size_t max;
  struct buf keys;                 /* length-prefixed: size_t, key */
  size_t n;
  int more;
};

static int rows_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct rows *w = ctx;
  const char *k = kp;
  long long slot = 0;
  int i;
  (void)v; (void)vn;
  if (kn < w->prefixn + 12 || memcmp(k, w->prefix, w->prefixn)) return 1;
  for (i = 0; i < 12; i++) {
    char c = k[w->prefixn + i];
    if (c < '0' || c > '9') return 0;
    slot = slot * 10 + (c - '0');
  }
  if (slot >= w->before) return 1;
  if (w->n == w->max) {
    w->more = 1;
    return 1;
  }
  w->n++;
  if (buf_add(&w->keys, &kn, sizeof kn) == -1 || buf_add(&w->keys, k, kn) == -1) return -1;
  return 0;
}

int event_stat_purge(struct tbl *t, const char *tenant, int kind, long long before,
                     size_t max, size_t *removed)
{
  struct rows w;
  struct buf p = BUF_ZERO;
  struct tbl_txn *x;
  int r = -1, tries;
  size_t i, n;
  memset(&w, 0, sizeof w);
  if (!evk_name_ok(tenant) || !max) return errno = EINVAL, -1;
  if (buf_addz(&p, tenant) == -1 || buf_addc(&p, (char)kind) == -1) goto out;
  w.prefix = p.s;
  w.prefixn = p.len;
  w.before = before;
  w.max = max;
  for (tries = 0; tries < EVENT_TXN_TRIES; tries++) {
    w.n = 0;
    w.more = 0;
    buf_trunc(&w.keys, 0);
    if (tbl_begin(t, &x) == -1) goto out;
    r = tbl_walk(t, x, EVT_STAT, p.s, p.len, 0, rows_one, &w) < 0 ? -1 : 0;
    for (i = 0, n = 0; r == 0 && n < w.n; n++) {
      size_t kn;
      memcpy(&kn, w.keys.s + i, sizeof kn);
      i += sizeof kn;
      if (tbl_del(t, x, EVT_STAT, w.keys.s + i, kn) == -1) r = -1;
      i += kn;
    }
    if (r == 0) {
      r = tbl_commit_lazy(x);
      break;
    }
    tbl_abort(x);
    if (errno != EDEADLK) break;
  }
  if (r == 0) {
    *removed += w.n;
    r = w.more;
  }
out:
  buf_free(&p);
  buf_free(&w.keys);
  return r;
}

