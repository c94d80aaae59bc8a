/* suppress.c: the suppression and unsubscribe lists in the tables
   "suppress" and "unsub" (see suppress.h for the record formats).  Keys
   start with TENANT \0 COMP \0 so that one composition's entries are one
   key range; the address part is the lower-cased address (addr_key). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include "addr.h"
#include "suppress.h"
#include "tenant.h"

#define T_SUP "suppress"
#define T_UNSUB "unsub"
#define TXN_TRIES 20

/* ---------- helpers ---------- */

static int names_ok(const char *tenant, const char *comp)
{
  return tenant_name_ok(tenant) && (!comp || tenant_comp_ok(comp));
}

static int addr_ok(const char *a)
{
  const char *at;
  size_t i;
  if (!a || !*a) return 0;
  at = strrchr(a, '@');
  if (!at || at == a || !at[1]) return 0;
  for (i = 0; a[i]; i++)
    if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f) return 0;
  return 1;
}

/* TENANT \0 COMP \0 [ADDRKEY [\0 FILTER]] */
static int key(struct buf *k, const char *tenant, const char *comp, const char *addr,
               const char *filter)
{
  buf_trunc(k, 0);
  if (buf_addz(k, tenant) == -1) return -1;
  if (comp && buf_addz(k, comp) == -1) return -1;
  if (addr && addr_key(k, addr) == -1) return -1;
  if (filter && (buf_addc(k, 0) == -1 || buf_adds(k, filter) == -1)) return -1;
  return 0;
}

static void nap(int tries)
{
  struct timespec ts = { 0, 1000000L * (1 + tries) };
  nanosleep(&ts, 0);
}

typedef int txn_fn(struct tbl *t, struct tbl_txn *x, void *ctx);

/* fn inside x, or in a transaction of its own retried on deadlock. */
static int in_txn(struct tbl *t, struct tbl_txn *x, txn_fn *fn, void *ctx)
{
  int tries, r;
  if (x) return fn(t, x, ctx);
  for (tries = 0; tries < TXN_TRIES; tries++) {
    struct tbl_txn *y;
    if (tbl_begin(t, &y) == -1) return -1;
    r = fn(t, y, ctx);
    if (r >= 0) {
      if (tbl_commit(y) == 0) return r;
    } else {
      tbl_abort(y);
    }
    if (errno != EDEADLK) return -1;
    nap(tries);
  }
  return -1;
}

/* Split a dull record v[0..n) into at most max NUL-terminated fields. */
static size_t fields(char *v, size_t n, char **f, size_t max)
{
  size_t i, k = 0, start = 0;
  for (i = 0; i < n && k < max; i++)
    if (v[i] == 0) {
      f[k++] = v + start;
      start = i + 1;
    }
  return k;
}

static long long num(const char *s)
{
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  return v;
}

/* 1 if hay contains needle (needle lower case already), ASCII case ignored. */
static int contains(const char *hay, const char *needle)
{
  size_t i, j, n = strlen(needle);
  if (!n) return 1;
  for (i = 0; hay[i]; i++) {
    for (j = 0; j < n && hay[i + j]; j++) {
      char c = hay[i + j];
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      if (c != needle[j]) break;
    }
    if (j == n) return 1;
  }
  return 0;
}

static void lower(char *s)
{
  for (; *s; s++) if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* A stable opaque id: 13 base32 letters of SHA-256 of the key. */
static int make_id(const struct buf *k, char *id)
{
  static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0, i;
  unsigned long long bits = 0;
  if (!EVP_Digest(k->s, k->len, md, &n, EVP_sha256(), 0) || n < 8) return errno = EIO, -1;
  for (i = 0; i < 8; i++) bits = (bits << 8) | md[i];
  for (i = 0; i < SUPPRESS_ID_LEN - 1; i++) id[i] = b32[(bits >> (59 - 5 * i)) & 31];
  id[SUPPRESS_ID_LEN - 1] = b32[(bits << 1) & 31];
  id[SUPPRESS_ID_LEN] = 0;
  return 0;
}

/* ---------- suppression ---------- */

struct sup {
  const char *tenant, *comp, *addr;
  int status;
  long long now;
  struct buf k, v;
};

static int put_rec(struct tbl *t, struct tbl_txn *x, struct sup *s, long long created,
                   unsigned long occurred, long long removed, int status, const char *id,
                   const char *addr)
{
  buf_trunc(&s->v, 0);
  if (buf_addz(&s->v, "1") == -1 || buf_printf(&s->v, "%d", status) == -1 || buf_addc(&s->v, 0) == -1
      || buf_printf(&s->v, "%lu", occurred) == -1 || buf_addc(&s->v, 0) == -1
      || buf_printf(&s->v, "%lld", created) == -1 || buf_addc(&s->v, 0) == -1
      || buf_printf(&s->v, "%lld", removed) == -1 || buf_addc(&s->v, 0) == -1
      || buf_addz(&s->v, id) == -1 || buf_addz(&s->v, addr) == -1)
    return -1;
  return tbl_put(t, x, T_SUP, s->k.s, s->k.len, s->v.s, s->v.len);
}

static int add_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct sup *s = ctx;
  char *f[7], id[SUPPRESS_ID_LEN + 1];
  int r = tbl_get_rmw(t, x, T_SUP, s->k.s, s->k.len, &s->v);
  if (r == -1) return -1;
  if (r == 0 && fields(s->v.s, s->v.len, f, 7) == 7 && !strcmp(f[0], "1")) {
    long long occ = num(f[2]), created = num(f[3]), removed = num(f[4]);
    char *addr = strdup(f[6]);
    int listed = removed == 0;
    if (!addr) return errno = ENOMEM, -1;
    snprintf(id, sizeof id, "%s", f[5]);
    if (occ < 0) occ = 0;
    r = put_rec(t, x, s, listed && created > 0 ? created : s->now, (unsigned long)occ + 1, 0,
                s->status, id, addr);
    free(addr);
    return r == -1 ? -1 : listed ? 1 : 0;
  }
  if (make_id(&s->k, id) == -1) return -1;
  return put_rec(t, x, s, s->now, 1, 0, s->status, id, s->addr) == -1 ? -1 : 0;
}

int suppress_add(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                 const char *addr, int status, long long now)
{
  struct sup s = { tenant, comp, addr, status, now, BUF_ZERO, BUF_ZERO };
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr) || status < 1 || status > 99)
    return errno = EINVAL, -1;
  r = key(&s.k, tenant, comp, addr, 0);
  if (r == 0) r = in_txn(t, x, add_tx, &s);
  buf_free(&s.k);
  buf_free(&s.v);
  return r;
}

static int del_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct sup *s = ctx;
  char *f[7];
  long long occ, created;
  char *id, *addr;
  int r = tbl_get_rmw(t, x, T_SUP, s->k.s, s->k.len, &s->v);
  if (r != 0) return r;
  if (fields(s->v.s, s->v.len, f, 7) != 7 || strcmp(f[0], "1")) return errno = EINVAL, -1;
  if (num(f[4]) != 0) return 1;                 /* released before */
  occ = num(f[2]);
  created = num(f[3]);
  id = strdup(f[5]);
  addr = strdup(f[6]);
  r = id && addr ? put_rec(t, x, s, created, occ < 0 ? 0 : (unsigned long)occ,
                           s->now > 0 ? s->now : 1, (int)num(f[1]), id, addr)
                 : (errno = ENOMEM, -1);
  free(id);
  free(addr);
  return r;
}

int suppress_del(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                 const char *addr, long long now)
{
  struct sup s = { tenant, comp, addr, 0, now, BUF_ZERO, BUF_ZERO };
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr)) return errno = EINVAL, -1;
  r = key(&s.k, tenant, comp, addr, 0);
  if (r == 0) r = in_txn(t, x, del_tx, &s);
  buf_free(&s.k);
  buf_free(&s.v);
  return r;
}

int suppress_check(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                   const char *addr)
{
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  char *f[7];
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr)) return errno = EINVAL, -1;
  r = key(&k, tenant, comp, addr, 0);
  if (r == 0) r = tbl_get(t, x, T_SUP, k.s, k.len, &v);
  if (r == 0) r = fields(v.s, v.len, f, 7) == 7 && num(f[4]) == 0 ? 1 : 0;
  else if (r == 1) r = 0;
  buf_free(&k);
  buf_free(&v);
  return r;
}

struct walk {
  struct buf prefix, sub, scratch;
  int removed;
  const char *filter;
  suppress_fn *fn;
  suppress_unsub_fn *ufn;
  void *ctx;
};

/* The key's tenant and composition fields. */
static int key_names(const char *k, size_t kn, const char **tenant, const char **comp,
                     const char **rest, size_t *restn)
{
  const char *z1 = memchr(k, 0, kn), *z2;
  if (!z1) return -1;
  z2 = memchr(z1 + 1, 0, kn - (size_t)(z1 + 1 - k));
  if (!z2) return -1;
  *tenant = k;
  *comp = z1 + 1;
  *rest = z2 + 1;
  *restn = kn - (size_t)(z2 + 1 - k);
  return 0;
}

static int sup_one(void *ctx, const void *kp, size_t kn, const void *vp, size_t vn)
{
  struct walk *w = ctx;
  struct suppress_rec r;
  char *f[7];
  const char *rest;
  size_t restn;
  if (kn < w->prefix.len || memcmp(kp, w->prefix.s, w->prefix.len)) return 1;
  /* key and value copied: fields need NUL-terminated strings */
  buf_trunc(&w->scratch, 0);
  if (buf_add(&w->scratch, kp, kn) == -1 || buf_addc(&w->scratch, 0) == -1) return -1;
  {
    size_t voff = w->scratch.len;
    if (buf_add(&w->scratch, vp, vn) == -1) return -1;
    if (key_names(w->scratch.s, kn, &r.tenant, &r.comp, &rest, &restn) == -1) return 0;
    if (fields(w->scratch.s + voff, vn, f, 7) != 7 || strcmp(f[0], "1")) return 0;
  }
  (void)restn;
  r.status = (int)num(f[1]);
  r.occurred = (unsigned long)(num(f[2]) < 0 ? 0 : num(f[2]));
  r.created = num(f[3]);
  r.removed = num(f[4]);
  r.id = f[5];
  r.addr = f[6];
  if ((w->removed != 0) != (r.removed != 0)) return 0;
  if (w->sub.len && !contains(rest, w->sub.s)) return 0;
  return w->fn(w->ctx, &r);
}

static int walk_init(struct walk *w, const char *tenant, const char *comp, const char *sub)
{
  memset(w, 0, sizeof *w);
  if (key(&w->prefix, tenant, comp, 0, 0) == -1) return -1;
  if (sub && *sub) {
    if (buf_adds(&w->sub, sub) == -1) return -1;
    lower(w->sub.s);
  }
  return 0;
}

static void walk_free(struct walk *w)
{
  buf_free(&w->prefix);
  buf_free(&w->sub);
  buf_free(&w->scratch);
}

int suppress_list(struct tbl *t, const char *tenant, const char *comp, const char *sub,
                  int removed, suppress_fn *fn, void *ctx)
{
  struct walk w;
  int r;
  if (!names_ok(tenant, comp)) return errno = EINVAL, -1;
  r = walk_init(&w, tenant, comp, sub);
  w.removed = removed;
  w.fn = fn;
  w.ctx = ctx;
  if (r == 0) r = tbl_walk(t, 0, T_SUP, w.prefix.s, w.prefix.len, 0, sup_one, &w);
  walk_free(&w);
  return r == 1 ? 0 : r;
}

int suppress_wanted(const char *setting_auto, const char *setting_statuses, int err)
{
  const char *p = setting_statuses && *setting_statuses ? setting_statuses : "2";
  if (setting_auto && (!strcmp(setting_auto, "off") || !strcmp(setting_auto, "no")
                       || !strcmp(setting_auto, "0") || !strcmp(setting_auto, "false")))
    return 0;
  if (err < 1) return 0;
  while (*p) {
    char *end;
    long v;
    while (*p == ',' || *p == ' ') p++;
    if (!*p) break;
    v = strtol(p, &end, 10);
    if (end == p) return 0;                     /* a malformed list adds nothing */
    if (v == err) return 1;
    p = end;
  }
  return 0;
}

int suppress_setting_ok(const char *key, const char *value, struct buf *err)
{
  const char *p = value;
  if (!strcmp(key, "suppress_auto")) {
    if (!strcmp(value, "on") || !strcmp(value, "off")) return 1;
    buf_printf(err, "suppress_auto %s: want on or off", value);
    return 0;
  }
  if (strcmp(key, "suppress_statuses")) return 1;
  for (;;) {
    char *end;
    long v;
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') break;
    v = strtol(p, &end, 10);
    if (v < 1 || v > 99) break;
    p = end;
    while (*p == ' ') p++;
    if (!*p) return 1;
    if (*p++ != ',') break;
  }
  buf_printf(err, "suppress_statuses %s: want error statuses separated by commas, e.g. 1,2,9", value);
  return 0;
}

/* ---------- unsubscribe ---------- */

static int filter_ok(const char *f)
{
  size_t i;
  if (!f) return 1;
  for (i = 0; f[i]; i++) if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f) return 0;
  return i <= SUPPRESS_FILTER_MAX;
}

struct uadd {
  struct buf k, v;
  const char *addr;
  long long now;
};

static int uadd_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct uadd *u = ctx;
  buf_trunc(&u->v, 0);
  if (buf_addz(&u->v, "1") == -1 || buf_printf(&u->v, "%lld", u->now) == -1 || buf_addc(&u->v, 0) == -1
      || buf_addz(&u->v, u->addr) == -1)
    return -1;
  return tbl_add(t, x, T_UNSUB, u->k.s, u->k.len, u->v.s, u->v.len);
}

int suppress_unsub_add(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                       const char *addr, const char *filter, long long now)
{
  struct uadd u = { BUF_ZERO, BUF_ZERO, addr, now };
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr) || !filter || !filter_ok(filter))
    return errno = EINVAL, -1;
  r = key(&u.k, tenant, comp, addr, filter);
  if (r == 0) r = in_txn(t, x, uadd_tx, &u);
  buf_free(&u.k);
  buf_free(&u.v);
  return r;
}

struct udel {
  struct buf prefix, k;
  struct buf *keys;
  size_t nkeys;
};

static int udel_collect(void *ctx, const void *kp, size_t kn, const void *vp, size_t vn)
{
  struct udel *d = ctx;
  struct buf *nk;
  (void)vp;
  (void)vn;
  if (kn < d->prefix.len || memcmp(kp, d->prefix.s, d->prefix.len)) return 1;
  nk = realloc(d->keys, (d->nkeys + 1) * sizeof *nk);
  if (!nk) return errno = ENOMEM, -1;
  d->keys = nk;
  memset(&d->keys[d->nkeys], 0, sizeof *d->keys);
  if (buf_set(&d->keys[d->nkeys], kp, kn) == -1) return -1;
  d->nkeys++;
  return 0;
}

static int udel_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct udel *d = ctx;
  size_t i;
  int any = 0, r;
  if (d->nkeys == 0) {
    /* one filter: the exact key */
    r = tbl_del(t, x, T_UNSUB, d->k.s, d->k.len);
    return r;
  }
  for (i = 0; i < d->nkeys; i++) {
    r = tbl_del(t, x, T_UNSUB, d->keys[i].s, d->keys[i].len);
    if (r == -1) return -1;
    if (r == 0) any = 1;
  }
  return any ? 0 : 1;
}

int suppress_unsub_del(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                       const char *addr, const char *filter)
{
  struct udel d;
  size_t i;
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr) || !filter_ok(filter))
    return errno = EINVAL, -1;
  memset(&d, 0, sizeof d);
  if (filter) {
    r = key(&d.k, tenant, comp, addr, filter);
  } else {
    /* every filter: the keys ADDRKEY \0 ... */
    r = key(&d.prefix, tenant, comp, addr, "");
    if (r == 0) r = tbl_walk(t, x, T_UNSUB, d.prefix.s, d.prefix.len, 0, udel_collect, &d);
    if (r == 1) r = 0;
    if (r == 0 && d.nkeys == 0) r = 2;
  }
  if (r == 2) r = 1;
  else if (r == 0) r = in_txn(t, x, udel_tx, &d);
  for (i = 0; i < d.nkeys; i++) buf_free(&d.keys[i]);
  free(d.keys);
  buf_free(&d.prefix);
  buf_free(&d.k);
  return r;
}

int suppress_unsub_check(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *comp,
                         const char *addr, const char *filter)
{
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  int r;
  if (!names_ok(tenant, comp) || !comp || !addr_ok(addr) || !filter_ok(filter))
    return errno = EINVAL, -1;
  r = key(&k, tenant, comp, addr, "");
  if (r == 0) r = tbl_get(t, x, T_UNSUB, k.s, k.len, &v);
  if (r == 1 && filter && *filter) {
    r = key(&k, tenant, comp, addr, filter);
    if (r == 0) r = tbl_get(t, x, T_UNSUB, k.s, k.len, &v);
  }
  buf_free(&k);
  buf_free(&v);
  return r == -1 ? -1 : r == 0 ? 1 : 0;
}

static int unsub_one(void *ctx, const void *kp, size_t kn, const void *vp, size_t vn)
{
  struct walk *w = ctx;
  struct suppress_unsub u;
  char *f[3];
  const char *rest, *z;
  size_t restn, voff;
  if (kn < w->prefix.len || memcmp(kp, w->prefix.s, w->prefix.len)) return 1;
  buf_trunc(&w->scratch, 0);
  if (buf_add(&w->scratch, kp, kn) == -1 || buf_addc(&w->scratch, 0) == -1) return -1;
  voff = w->scratch.len;
  if (buf_add(&w->scratch, vp, vn) == -1) return -1;
  if (key_names(w->scratch.s, kn, &u.tenant, &u.comp, &rest, &restn) == -1) return 0;
  z = memchr(rest, 0, restn);
  if (!z) return 0;
  u.filter = z + 1;                  /* NUL-terminated by the addc above */
  if (fields(w->scratch.s + voff, vn, f, 3) != 3 || strcmp(f[0], "1")) return 0;
  u.created = num(f[1]);
  u.addr = f[2];
  if (w->filter && strcmp(w->filter, u.filter)) return 0;
  if (w->sub.len && !contains(rest, w->sub.s)) return 0;
  return w->ufn(w->ctx, &u);
}

int suppress_unsub_list(struct tbl *t, const char *tenant, const char *comp, const char *sub,
                        const char *filter, suppress_unsub_fn *fn, void *ctx)
{
  struct walk w;
  int r;
  if (!names_ok(tenant, comp) || !filter_ok(filter)) return errno = EINVAL, -1;
  r = walk_init(&w, tenant, comp, sub);
  w.filter = filter;
  w.ufn = fn;
  w.ctx = ctx;
  if (r == 0) r = tbl_walk(t, 0, T_UNSUB, w.prefix.s, w.prefix.len, 0, unsub_one, &w);
  walk_free(&w);
  return r == 1 ? 0 : r;
}
