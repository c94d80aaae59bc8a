/* event_verify.c: checking that the indexes, the address table and the
   counters of a tenant agree with its records (event_verify, event.h):
   every entry a record should have is there, every entry has its record,
   and every counter row equals a recount (late bounces replayed in time
   order).  Reads in short transactions; for tests and operators
   (report verify). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "event.h"
#include "event_key.h"

struct verify {
  struct tbl *t;
  const char *tenant;
  const char *comp;                /* the partition being read */
  int kind;                        /* the counter rows being compared */
  long long from, to;
  struct event_verify *v;
  struct evk_map counts;           /* stat key -> struct tally */
  struct evk_map done;             /* id \0 rcpt of recorded successes */
  struct evk_ents ents;
  struct buf key, val, scratch, k2;
  const char *prefix;
  size_t prefixn;
};

struct tally {
  struct event_counts c;
  int seen;                        /* a stored row was compared with it */
};

static int tally(struct verify *w, int kind, long long slot, const char *domain,
                 const struct event *e, int late)
{
  struct tally *c;
  if (slot < w->from || slot >= w->to) return 0;
  if (evk_statkey(&w->k2, e->tenant, kind, slot, domain, e->composition, e->user) == -1) return -1;
  if (!(c = evk_map_get(&w->counts, w->k2.s, w->k2.len, 0))) return -1;
  evk_count(&c->c, (int)e->status, e->error, late);
  return 0;
}

/* 1 if k is in table with value v (v 0: any), 0 if not, -1. */
static int has(struct verify *w, const char *table, const struct buf *k, const struct buf *v)
{
  int r = tbl_get(w->t, 0, table, k->s, k->len, &w->val);
  if (r == -1) return -1;
  return r == 0 && (!v || (v->len == w->val.len && !memcmp(v->s, w->val.s, v->len)));
}

static int record_one(void *ctx, const void *k, size_t kn, const void *vp, size_t vn)
{
  struct verify *w = ctx;
  const unsigned char *ts;
  struct event e;
  long long tm;
  size_t i;
  int r, late = 0;
  if (kn != w->prefixn + EVENT_TS || memcmp(k, w->prefix, w->prefixn)) return 1;
  ts = (const unsigned char *)k + w->prefixn;
  w->v->events++;
  if (event_decode(&e, vp, vn, &w->scratch) == -1 || strcmp(e.tenant, w->tenant)
      || strcmp(e.composition, w->comp)) {
    w->v->bad++;
    return 0;
  }
  if (evk_ents_build(&w->ents, &e, ts) == -1) return -1;
  for (i = 0; i < w->ents.n; i++) {
    if ((r = has(w, w->ents.e[i].table, &w->ents.e[i].k, &w->ents.e[i].v)) == -1) return -1;
    if (!r) w->v->missing++;
  }
  if ((r = evk_midkey(&w->key, &e)) == -1) return -1;
  if (r == 0) {
    if ((r = has(w, EVT_MID, &w->key, 0)) == -1) return -1;
    if (!r) w->v->missing++;
  }
  if (w->ents.rcpt.len) {
    size_t j, last = evk_addr_positions(w->ents.rcpt.s);
    for (j = 0; j < last; j++) {
      if (evk_addr_key(&w->key, w->tenant, w->comp, w->ents.rcpt.s, j) == -1) return -1;
      if ((r = has(w, EVT_ADDR, &w->key, 0)) == -1) return -1;
      if (!r) w->v->missing++;
    }
    if (*w->ents.domain) {
      if (evk_addr_other(&w->key, w->tenant, w->comp, ADDR_DOMAIN, w->ents.domain) == -1) return -1;
      if ((r = has(w, EVT_ADDR, &w->key, 0)) == -1) return -1;
      if (!r) w->v->missing++;
    }
  }
  /* The writer's rule for a late bounce, replayed in time order. */
  buf_trunc(&w->k2, 0);
  if (buf_addz(&w->k2, e.id) == -1 || buf_adds(&w->k2, w->ents.rcpt.s) == -1) return -1;
  if (e.status == EV_SUCCEEDED && !evk_map_get(&w->done, w->k2.s, w->k2.len, 0)) return -1;
  if (e.status == EV_FAILED && evk_map_find(&w->done, w->k2.s, w->k2.len)) late = 1;
  tm = e.time < 0 ? 0 : e.time;
  if (tally(w, EVENT_SLOT_MINUTE, tm - tm % EVENT_MINUTE, "", &e, late) == -1
      || tally(w, EVENT_SLOT_QUARTER, tm - tm % EVENT_QUARTER, "", &e, late) == -1
      || tally(w, EVENT_SLOT_DOMAIN, tm - tm % EVENT_QUARTER, w->ents.domain, &e, late) == -1)
    return -1;
  return 0;
}

/* An index entry: its record must be there. */
static int index_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct verify *w = ctx;
  const char *k = kp;
  int r;
  if (kn < w->prefixn + EVENT_TS || memcmp(k, w->prefix, w->prefixn)) return 1;
  if (!strcmp(w->comp, "")) {      /* event_id: the composition is in the value */
    size_t cn = strnlen(v, vn);
    if (cn == vn || evk_part(&w->key, w->tenant, v) == -1) return cn == vn ? 0 : -1;
  } else if (evk_part(&w->key, w->tenant, w->comp) == -1) {
    return -1;
  }
  (void)vn;
  if (buf_add(&w->key, k + kn - EVENT_TS, EVENT_TS) == -1) return -1;
  if ((r = has(w, EVT_EVENT, &w->key, 0)) == -1) return -1;
  if (!r) w->v->orphans++;
  return 0;
}

static int any0(struct verify *w, const char *table, const struct buf *prefix)
{
  return evk_any(w->t, 0, table, prefix->s, prefix->len);
}

/* A Message-ID entry: its message must have events. */
static int mid_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct verify *w = ctx;
  const char *k = kp, *mid, *id;
  int r;
  (void)v; (void)vn;
  if (kn < w->prefixn || memcmp(k, w->prefix, w->prefixn)) return 1;
  if (buf_set(&w->k2, k, kn) == -1) return -1;
  mid = w->k2.s + w->prefixn;
  id = memchr(mid, 0, kn - w->prefixn);
  if (!id) return 0;
  id++;
  buf_trunc(&w->key, 0);
  if (buf_addz(&w->key, w->tenant) == -1 || buf_addz(&w->key, id) == -1) return -1;
  if ((r = any0(w, EVT_ID, &w->key)) == -1) return -1;
  if (!r) w->v->orphans++;
  return 0;
}

/* An address entry (the whole address): the recipient must have events. */
static int addr_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct verify *w = ctx;
  const char *k = kp;
  int r;
  (void)v; (void)vn;
  if (kn < w->prefixn || memcmp(k, w->prefix, w->prefixn)) return 1;
  if (kn > w->prefixn + 1 && k[w->prefixn] == ADDR_DOMAIN) {
    /* a domain: some event must go there */
    if (evk_part(&w->key, w->tenant, w->comp) == -1 || buf_addc(&w->key, IX_DOMAIN) == -1
        || buf_add(&w->key, k + w->prefixn + 1, kn - w->prefixn - 1) == -1
        || buf_addc(&w->key, 0) == -1)
      return -1;
  } else {
    /* Only P 's' ADDRESS \0: a suffix entry has a PREFIX after its NUL. */
    if (kn < w->prefixn + 2 || k[w->prefixn] != ADDR_SUFFIX || k[kn - 1]) return 0;
    if (evk_part(&w->key, w->tenant, w->comp) == -1 || buf_addc(&w->key, IX_RCPT) == -1
        || buf_add(&w->key, k + w->prefixn + 1, kn - w->prefixn - 1) == -1)
      return -1;
  }
  if ((r = any0(w, EVT_IX, &w->key)) == -1) return -1;
  if (!r) w->v->orphans++;
  return 0;
}

static int stat_row(void *ctx, long long slot, const char *domain, const char *comp,
                    const char *user, const struct event_counts *c)
{
  struct verify *w = ctx;
  struct tally *mine;
  if (evk_statkey(&w->k2, w->tenant, w->kind, slot, domain, comp, user) == -1) return -1;
  mine = evk_map_find(&w->counts, w->k2.s, w->k2.len);
  if (!mine) {
    struct event_counts z;
    memset(&z, 0, sizeof z);
    if (memcmp(&z, c, sizeof z)) w->v->counters++;
    return 0;
  }
  if (memcmp(&mine->c, c, sizeof *c)) w->v->counters++;
  mine->seen = 1;
  return 0;
}

static int comp_of(void *ctx, const char *name)
{
  struct buf *b = ctx;
  return buf_addz(b, name) == -1 ? -1 : 0;
}

int event_verify(struct tbl *t, const char *tenant, long long from, long long to,
                 struct event_verify *v)
{
  struct verify w;
  struct buf comps = BUF_ZERO, p = BUF_ZERO;
  static const char kinds[] = { EVENT_SLOT_MINUTE, EVENT_SLOT_QUARTER, EVENT_SLOT_DOMAIN };
  size_t i, j;
  int r = -1;
  memset(&w, 0, sizeof w);
  memset(v, 0, sizeof *v);
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  w.t = t;
  w.tenant = tenant;
  w.from = from;
  w.to = to;
  w.v = v;
  evk_map_init(&w.counts, sizeof(struct tally));
  evk_map_init(&w.done, 1);
  if (event_comps(t, tenant, comp_of, &comps) == -1) goto out;
  for (i = 0; i < comps.len; i += strlen(comps.s + i) + 1) {
    w.comp = comps.s + i;
    evk_map_free(&w.done);
    if (evk_part(&p, tenant, w.comp) == -1) goto out;
    w.prefix = p.s;
    w.prefixn = p.len;
    if (evk_walk(t, EVT_EVENT, p.s, p.len, 0, record_one, &w) < 0) goto out;
    if (evk_walk(t, EVT_IX, p.s, p.len, 0, index_one, &w) < 0) goto out;
    if (evk_walk(t, EVT_ADDR, p.s, p.len, 0, addr_one, &w) < 0) goto out;
  }
  buf_trunc(&p, 0);
  if (buf_addz(&p, tenant) == -1) goto out;
  w.prefix = p.s;
  w.prefixn = p.len;
  w.comp = "";
  if (evk_walk(t, EVT_ID, p.s, p.len, 0, index_one, &w) < 0) goto out;
  if (evk_walk(t, EVT_MID, p.s, p.len, 0, mid_one, &w) < 0) goto out;
  for (j = 0; j < sizeof kinds; j++) {
    w.kind = kinds[j];
    if (event_stat_walk(t, tenant, kinds[j], from, to, stat_row, &w) == -1) goto out;
  }
  /* Recounted rows that have no stored row. */
  for (i = 0; i < w.counts.cap; i++) {
    struct tally *c = w.counts.slot[i].v;
    if (w.counts.slot[i].k && !c->seen) v->counters++;
  }
  r = 0;
out:
  buf_free(&comps);
  buf_free(&p);
  buf_free(&w.key);
  buf_free(&w.val);
  buf_free(&w.scratch);
  buf_free(&w.k2);
  evk_ents_free(&w.ents);
  evk_map_free(&w.counts);
  evk_map_free(&w.done);
  return r;
}
