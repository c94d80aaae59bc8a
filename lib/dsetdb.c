/* dsetdb.c: the writers and readers of table "dset" (see dset.h and
   doc/tables.md): filter lists kept in order, the default speed, the
   sending-IP pool and the settings generation.  Every write is one
   transaction that also increments the generation, so that deliver, which
   polls it, sees a whole change or none; a list is rewritten whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dset.h"
#include "tenant.h"

#define TXN_TRIES 8
#define GEN_KEY "\0generation"
#define GEN_KEYLEN 11

static const char kindc[DSET_NKIND] = { 's', 'p', 'w', 'f', 'u' };

/* --- transactions --- */

typedef int txn_fn(struct tbl *t, struct tbl_txn *x, void *ctx);

static int bump(struct tbl *t, struct tbl_txn *x)
{
  struct buf v = BUF_ZERO;
  unsigned long long g = 0;
  char s[32];
  int r = tbl_get_rmw(t, x, DSET_TABLE, GEN_KEY, GEN_KEYLEN, &v);
  if (r == -1) return -1;
  if (r == 0 && buf_addc(&v, 0) == 0) g = strtoull(v.s, 0, 10);
  buf_free(&v);
  snprintf(s, sizeof s, "%llu", g + 1);
  return tbl_put(t, x, DSET_TABLE, GEN_KEY, GEN_KEYLEN, s, strlen(s));
}

/* fn and the generation in one transaction, retried on deadlock. */
static int in_txn(struct tbl *t, txn_fn *fn, void *ctx)
{
  int tries, e = EIO;
  for (tries = 0; tries < TXN_TRIES; tries++) {
    struct tbl_txn *x;
    int r;
    if (tbl_begin(t, &x) == -1) return -1;
    r = fn ? fn(t, x, ctx) : 0;
    if (r >= 0 && bump(t, x) == 0) {
      if (tbl_commit(x) == 0) return r;
    } else {
      e = errno;
      tbl_abort(x);
      errno = e;
    }
    e = errno;
    if (e != EDEADLK) break;
  }
  return errno = e, -1;
}

int dset_touch(struct tbl *t)
{
  return in_txn(t, 0, 0);
}

int dset_generation(struct tbl *t, unsigned long long *gen)
{
  struct buf v = BUF_ZERO;
  int r = tbl_get(t, 0, DSET_TABLE, GEN_KEY, GEN_KEYLEN, &v);
  *gen = 0;
  if (r == 0 && buf_addc(&v, 0) == 0) *gen = strtoull(v.s, 0, 10);
  buf_free(&v);
  return r == -1 ? -1 : 0;
}

/* TENANT \0 COMP \0 what... (comp 0: the prefix of every composition) */
static int key(struct buf *k, const char *tenant, const char *comp, const char *what, size_t wn)
{
  buf_trunc(k, 0);
  if (buf_addz(k, tenant) == -1) return -1;
  if (!comp) return 0;
  if (buf_addz(k, comp) == -1) return -1;
  return what ? buf_add(k, what, wn) : 0;
}

static int need(struct tbl *t, const char *tenant, const char *comp)
{
  int r;
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp))) return errno = EINVAL, -1;
  r = tenant_exists(t, tenant);
  if (r == -1) return -1;
  if (r == 0) return errno = ENOENT, -1;
  return 0;
}

/* --- filter lists --- */

struct flist {
  struct tbl *t;
  const char *tenant, *comp;
  enum dset_kind k;
  struct buf prefix;
  struct buf *rec;                   /* records in order */
  size_t n, cap;
  /* the change */
  const struct dset_filter *put;
  const char *name;
  int del;
  size_t pos;
};

static int collect(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct flist *l = ctx;
  if (kn < l->prefix.len || memcmp(k, l->prefix.s, l->prefix.len)) return 1;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    struct buf *nr = realloc(l->rec, nc * sizeof *nr);
    if (!nr) return errno = ENOMEM, -1;
    l->rec = nr;
    l->cap = nc;
  }
  memset(&l->rec[l->n], 0, sizeof l->rec[l->n]);
  if (buf_set(&l->rec[l->n], v, vn) == -1) return -1;
  l->n++;
  return 0;
}

static void flist_clear(struct flist *l)
{
  size_t i;
  for (i = 0; i < l->n; i++) buf_free(&l->rec[i]);
  l->n = 0;
}

static int prefix_of(struct flist *l)
{
  char w[3] = { 'f', 0, kindc[l->k] };
  return key(&l->prefix, l->tenant, l->comp, w, 3);
}

/* The name stored in a record, or "" */
static const char *rec_name(const struct buf *r)
{
  if (r->len > 2 && r->s[0] == 'n' && r->s[1] == '=' && memchr(r->s, 0, r->len)) return r->s + 2;
  return "";
}

static int change_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct flist *l = ctx;
  struct buf k = BUF_ZERO, nr = BUF_ZERO;
  size_t i, at = (size_t)-1;
  int r = -1, found = 0;
  flist_clear(l);
  if (prefix_of(l) == -1) return -1;
  if (tbl_walk(t, x, DSET_TABLE, l->prefix.s, l->prefix.len, 0, collect, l) == -1) return -1;
  for (i = 0; i < l->n; i++)
    if (!strcmp(rec_name(&l->rec[i]), l->put ? l->put->name : l->name)) { at = i; found = 1; break; }
  if (!found && !l->put) { r = 1; goto out; }
  /* delete every key of the list, then write it anew in order */
  for (i = 0; i < l->n; i++) {
    char seq[24];
    snprintf(seq, sizeof seq, "%04zu", i + 1);
    if (buf_set(&k, l->prefix.s, l->prefix.len) == -1 || buf_addc(&k, 0) == -1 || buf_adds(&k, seq) == -1
        || tbl_del(t, x, DSET_TABLE, k.s, k.len) == -1)
      goto out;
  }
  if (l->put) {
    if (dset_filter_encode(l->put, &nr) == -1) goto out;
    if (found) {
      if (buf_set(&l->rec[at], nr.s, nr.len) == -1) goto out;
    } else {
      struct buf *g;
      if (l->n >= DSET_FILTERS_MAX) { errno = E2BIG; goto out; }
      if (l->n == l->cap) {
        if (!(g = realloc(l->rec, (l->cap + 1) * sizeof *g))) goto out;
        l->rec = g;
        l->cap++;
      }
      memset(&l->rec[l->n], 0, sizeof l->rec[l->n]);
      if (buf_set(&l->rec[l->n], nr.s, nr.len) == -1) goto out;
      l->n++;
    }
  } else {
    struct buf mv = l->rec[at];
    memmove(l->rec + at, l->rec + at + 1, (l->n - at - 1) * sizeof *l->rec);
    if (l->del) {
      buf_free(&mv);
      l->n--;
    } else {
      size_t to = l->pos == 0 ? 0 : l->pos - 1;
      if (to > l->n - 1) to = l->n - 1;
      memmove(l->rec + to + 1, l->rec + to, (l->n - 1 - to) * sizeof *l->rec);
      l->rec[to] = mv;
    }
  }
  for (i = 0; i < l->n; i++) {
    char seq[24];
    snprintf(seq, sizeof seq, "%04zu", i + 1);
    if (buf_set(&k, l->prefix.s, l->prefix.len) == -1 || buf_addc(&k, 0) == -1 || buf_adds(&k, seq) == -1
        || tbl_put(t, x, DSET_TABLE, k.s, k.len, l->rec[i].s, l->rec[i].len) == -1)
      goto out;
  }
  r = 0;
out:
  buf_free(&k);
  buf_free(&nr);
  return r;
}

static int change(struct flist *l)
{
  int r;
  if (need(l->t, l->tenant, l->comp) == -1) return -1;
  r = in_txn(l->t, change_tx, l);
  flist_clear(l);
  free(l->rec);
  buf_free(&l->prefix);
  return r;
}

int dset_filter_put(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const struct dset_filter *f, struct buf *err)
{
  struct flist l;
  int r;
  if (dset_filter_check(k, f, err) == -1) return -1;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.put = f;
  r = change(&l);
  if (r == -1 && errno == E2BIG) {
    buf_printf(err, "more than %d %s filters", DSET_FILTERS_MAX, dset_kind_name(k));
    errno = EINVAL;
  }
  return r;
}

int dset_filter_del(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const char *name)
{
  struct flist l;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.name = name; l.del = 1;
  return change(&l);
}

int dset_filter_move(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     const char *name, size_t pos)
{
  struct flist l;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.name = name; l.pos = pos;
  return change(&l);
}

struct walk {
  const char *tenant, *comp;
  enum dset_kind k;
  struct buf prefix, last;
  size_t pos;
  dset_filter_fn *fn;
  void *ctx;
};

static int list_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct walk *w = ctx;
  const char *k = kp, *comp, *z;
  struct dset_filter f;
  int r;
  if (kn < w->prefix.len || memcmp(k, w->prefix.s, w->prefix.len)) return 1;
  comp = k + strlen(w->tenant) + 1;
  z = memchr(comp, 0, kn - (size_t)(comp - k));
  /* TENANT \0 COMP \0 f \0 K \0 NNNN */
  if (!z || (size_t)(k + kn - z) < 6 || z[1] != 'f' || z[2] || z[3] != kindc[w->k] || z[4]) return 0;
  if (!w->last.s || strcmp(w->last.s, comp)) {
    if (buf_set(&w->last, comp, (size_t)(z - comp)) == -1 || buf_addc(&w->last, 0) == -1) return -1;
    w->pos = 0;
  }
  w->pos++;
  if (dset_filter_decode(&f, v, vn) == -1) return errno == ENOMEM ? -1 : 0;
  r = w->fn(w->ctx, comp, w->pos, &f);
  dset_filter_free(&f);
  return r;
}

int dset_filter_list(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     dset_filter_fn *fn, void *ctx)
{
  struct walk w;
  int r;
  char what[3] = { 'f', 0, kindc[k] };
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp)) || (unsigned)k >= DSET_NKIND)
    return errno = EINVAL, -1;
  memset(&w, 0, sizeof w);
  w.tenant = tenant; w.comp = comp; w.k = k; w.fn = fn; w.ctx = ctx;
  if (key(&w.prefix, tenant, comp, what, 3) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, w.prefix.s, w.prefix.len, 0, list_one, &w);
  buf_free(&w.prefix);
  buf_free(&w.last);
  return r == 1 ? 0 : r;
}

/* --- default speed --- */

int dset_speed_check(const struct dset_speed *s, struct buf *err)
{
  struct dset_filter f;
  char *h = "To", *p = ".*";
  int r;
  dset_filter_init(&f);
  f.name = "default";
  f.ncond = 1;
  f.header[0] = h;
  f.pattern[0] = p;
  f.maxconn = s->maxconn;
  f.interval = s->interval;
  f.nips = s->nips;
  r = dset_filter_check(DSET_SPEED, &f, err);
  return r;
}

struct sp {
  const char *tenant, *comp;
  const struct dset_speed *s;
  int del;
};

static int speed_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct sp *o = ctx;
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  int r = -1;
  if (key(&k, o->tenant, o->comp, "d", 1) == -1) goto out;
  if (o->del) {
    r = tbl_del(t, x, DSET_TABLE, k.s, k.len);
    goto out;
  }
  if (dset_itemu(&v, "m", o->s->maxconn) == -1 || dset_itemu(&v, "i", o->s->interval) == -1
      || dset_itemu(&v, "ips", o->s->nips) == -1)
    goto out;
  r = tbl_put(t, x, DSET_TABLE, k.s, k.len, v.s, v.len);
out:
  buf_free(&k);
  buf_free(&v);
  return r;
}

int dset_speed_set(struct tbl *t, const char *tenant, const char *comp,
                   const struct dset_speed *s, struct buf *err)
{
  struct sp o = { tenant, comp, s, 0 };
  if (dset_speed_check(s, err) == -1) return -1;
  if (need(t, tenant, comp) == -1) return -1;
  return in_txn(t, speed_tx, &o);
}

int dset_speed_unset(struct tbl *t, const char *tenant, const char *comp)
{
  struct sp o = { tenant, comp, 0, 1 };
  if (need(t, tenant, comp) == -1) return -1;
  return in_txn(t, speed_tx, &o);
}

int dset_speed_get(struct tbl *t, const char *tenant, const char *comp, struct dset_speed *s)
{
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  struct dset_filter f;
  int r;
  memset(s, 0, sizeof *s);
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp)) return errno = EINVAL, -1;
  if (key(&k, tenant, comp, "d", 1) == -1) { buf_free(&k); return -1; }
  r = tbl_get(t, 0, DSET_TABLE, k.s, k.len, &v);
  if (r == 0) {
    /* the items of a filter record without its name */
    struct buf rec = BUF_ZERO;
    if (dset_item(&rec, "n", "default") == -1 || buf_add(&rec, v.s, v.len) == -1
        || dset_filter_decode(&f, rec.s, rec.len) == -1) {
      r = errno == ENOMEM ? -1 : 1;
    } else {
      s->maxconn = f.maxconn;
      s->interval = f.interval;
      s->nips = f.nips;
      dset_filter_free(&f);
    }
    buf_free(&rec);
  }
  buf_free(&k);
  buf_free(&v);
  return r;
}

/* --- sending IPs --- */

static int ip_canon(const char *ip, char *out, size_t n)
{
  unsigned char a[16];
  if (inet_pton(AF_INET, ip, a) == 1) return inet_ntop(AF_INET, a, out, (socklen_t)n) ? 0 : -1;
  if (inet_pton(AF_INET6, ip, a) == 1) return inet_ntop(AF_INET6, a, out, (socklen_t)n) ? 0 : -1;
  return -1;
}

struct ipop {
  const char *tenant, *comp, *ip;
  int del;
};

static int ip_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct ipop *o = ctx;
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  int r = -1;
  if (key(&k, o->tenant, o->comp, "i", 2) == -1 || buf_adds(&k, o->ip) == -1) goto out;
  if (o->del) {
    r = tbl_del(t, x, DSET_TABLE, k.s, k.len);
    goto out;
  }
  r = tbl_get(t, x, DSET_TABLE, k.s, k.len, &v);
  if (r != 1) goto out;              /* there already (0), or an error */
  r = tbl_put(t, x, DSET_TABLE, k.s, k.len, "", 0) == -1 ? -1 : 0;
  if (r == 0) r = 2;                 /* added */
out:
  buf_free(&k);
  buf_free(&v);
  return r;
}

struct iplist {
  const char *tenant;
  struct buf prefix, comp;
  size_t n;
  dset_ip_fn *fn;
  void *ctx;
};

static int ip_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct iplist *l = ctx;
  const char *k = kp, *comp, *z;
  struct buf ip = BUF_ZERO;
  int r;
  (void)v; (void)vn;
  if (kn < l->prefix.len || memcmp(k, l->prefix.s, l->prefix.len)) return 1;
  comp = k + strlen(l->tenant) + 1;
  z = memchr(comp, 0, kn - (size_t)(comp - k));
  if (!z || (size_t)(k + kn - z) < 3 || z[1] != 'i' || z[2]) return 0;
  if (buf_set(&l->comp, comp, (size_t)(z - comp)) == -1 || buf_addc(&l->comp, 0) == -1
      || buf_set(&ip, z + 3, (size_t)(k + kn - z - 3)) == -1 || buf_addc(&ip, 0) == -1) {
    buf_free(&ip);
    return -1;
  }
  l->n++;
  r = l->fn ? l->fn(l->ctx, l->comp.s, ip.s) : 0;
  buf_free(&ip);
  return r;
}

int dset_ip_list(struct tbl *t, const char *tenant, const char *comp, dset_ip_fn *fn, void *ctx)
{
  struct iplist l;
  int r;
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp))) return errno = EINVAL, -1;
  memset(&l, 0, sizeof l);
  l.tenant = tenant; l.fn = fn; l.ctx = ctx;
  if (key(&l.prefix, tenant, comp, comp ? "i" : 0, 2) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, l.prefix.s, l.prefix.len, 0, ip_one, &l);
  buf_free(&l.prefix);
  buf_free(&l.comp);
  return r == 1 ? 0 : r;
}

int dset_ip_add(struct tbl *t, const char *tenant, const char *comp, const char *ip,
                struct buf *err)
{
  char c[64];
  struct ipop o;
  struct iplist l;
  int r;
  if (ip_canon(ip, c, sizeof c) == -1) {
    buf_printf(err, "not an IPv4 or IPv6 address: %s", ip);
    return errno = EINVAL, -1;
  }
  if (need(t, tenant, comp) == -1) return -1;
  memset(&l, 0, sizeof l);
  l.tenant = tenant;
  if (key(&l.prefix, tenant, comp, "i", 2) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, l.prefix.s, l.prefix.len, 0, ip_one, &l);
  buf_free(&l.prefix);
  buf_free(&l.comp);
  if (r == -1) return -1;
  if (l.n >= DSET_IPS_MAX) {
    buf_printf(err, "more than %d sending IPs", DSET_IPS_MAX);
    return errno = EINVAL, -1;
  }
  o.tenant = tenant; o.comp = comp; o.ip = c; o.del = 0;
  r = in_txn(t, ip_tx, &o);
  return r == -1 ? -1 : r == 2 ? 0 : 1;
}

int dset_ip_del(struct tbl *t, const char *tenant, const char *comp, const char *ip)
{
  char c[64];
  struct ipop o;
  if (ip_canon(ip, c, sizeof c) == -1) return errno = EINVAL, -1;
  if (need(t, tenant, comp) == -1) return -1;
  o.tenant = tenant; o.comp = comp; o.ip = c; o.del = 1;
  return in_txn(t, ip_tx, &o);
}

