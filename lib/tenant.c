/* tenant.c: tenants, relay networks, SMTP AUTH users, routes and settings
   in the tables of tbl.h, and the writer of the access snapshot (see
   tenant.h and doc/tables.md; names and password checks: tenant_check.c,
   the snapshot's reader: access.c).  Tables (fields \0-separated):
     tenant   NAME                    -> "created=UNIXTIME"
     net      TENANT COMP CIDR        -> ""
     user     NAME                    -> TENANT \0 COMP \0 HASH \0
     route    TENANT COMP DOMAIN      -> HOST:PORT
     setting  TENANT COMP KEY         -> VALUE
   Passwords are hashed with yescrypt (libxcrypt); only hashes are stored. */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "cidr.h"
#include "io.h"
#include "tenant.h"

#define PASSWORD_MAX 1024
#define DOMAIN_MAX 253
#define HOSTPORT_MAX 300
#define KEY_MAX 64
#define VALUE_MAX 4096
#define TXN_TRIES 8

/* ---------- names and values ---------- */

static int key_ok(const char *k)
{
  size_t i;
  if (!k || !*k) return 0;
  for (i = 0; k[i]; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9')
          || k[i] == '_' || k[i] == '.' || k[i] == '-'))
      return 0;
  return i <= KEY_MAX;
}

/* Printable text, no control characters (bytes >= 0x80 are allowed). */
static int text_ok(const char *s, size_t max)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return i <= max;
}

/* Lower-case domain into out; 0, or -1 EINVAL.  "*" stays "*". */
static int domain_norm(const char *d, char *out, size_t n)
{
  size_t i, len = strlen(d);
  if (!strcmp(d, "*")) {
    if (n < 2) return errno = EINVAL, -1;
    memcpy(out, "*", 2);
    return 0;
  }
  if (len == 0 || len > DOMAIN_MAX || len >= n || d[0] == '.' || d[len - 1] == '.')
    return errno = EINVAL, -1;
  for (i = 0; i < len; i++) {
    char c = d[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return errno = EINVAL, -1;
    if (c == '.' && d[i + 1] == '.') return errno = EINVAL, -1;
    out[i] = c;
  }
  out[len] = 0;
  return 0;
}

static int hostport_ok(const char *s)
{
  const char *colon = strrchr(s, ':');
  char host[HOSTPORT_MAX + 1], *end;
  unsigned long port;
  size_t hn;
  if (!colon || strlen(s) > HOSTPORT_MAX) return 0;
  errno = 0;
  port = strtoul(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || colon[1] == '-' || colon[1] == '+'
      || port == 0 || port > 65535)
    return 0;
  hn = (size_t)(colon - s);
  memcpy(host, s, hn);
  host[hn] = 0;
  if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
    unsigned char a[16];
    host[hn - 1] = 0;
    return inet_pton(AF_INET, host + 1, a) == 1 || inet_pton(AF_INET6, host + 1, a) == 1;
  }
  if (hn == 0 || !strcmp(host, "*")) return 0;
  return domain_norm(host, host, sizeof host) == 0;
}

/* ---------- transactions ---------- */

typedef int txn_fn(struct tbl *t, struct tbl_txn *x, void *ctx);

/* Run fn in a transaction, again on a deadlock.  fn's value (>= 0) is
   returned after a commit; fn < 0 aborts. */
static int in_txn(struct tbl *t, txn_fn *fn, void *ctx)
{
  struct tbl_txn *x;
  int tries, r;
  for (tries = 1;; tries++) {
    if (tbl_begin(t, &x) == -1) return -1;
    r = fn(t, x, ctx);
    if (r < 0) {
      tbl_abort(x);
    } else if (tbl_commit(x) == 0) {
      return r;
    }
    if (errno != EDEADLK || tries == TXN_TRIES) return -1;
  }
}

/* key = a \0 b \0 c (c without its NUL; any may be 0 to stop there). */
static int key3(struct buf *k, const char *a, const char *b, const char *c)
{
  buf_trunc(k, 0);
  if (buf_addz(k, a) == -1) return -1;
  if (b && buf_addz(k, b) == -1) return -1;
  if (c && buf_adds(k, c) == -1) return -1;
  return 0;
}

static int exists_in(struct tbl *t, struct tbl_txn *x, const char *name)
{
  struct buf v = BUF_ZERO;
  int r = tbl_get(t, x, "tenant", name, strlen(name), &v);
  buf_free(&v);
  if (r == -1) return -1;
  if (r == 1) return errno = ENOENT, -1;
  return 0;
}

/* ---------- tenants ---------- */

static int add_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  const char *name = ctx;
  char v[64];
  snprintf(v, sizeof v, "created=%lld", (long long)time(0));
  return tbl_add(t, x, "tenant", name, strlen(name), v, strlen(v));
}

int tenant_add(struct tbl *t, const char *name)
{
  if (!tenant_name_ok(name)) return errno = EINVAL, -1;
  return in_txn(t, add_tx, (void *)name);
}

int tenant_exists(struct tbl *t, const char *name)
{
  struct buf v = BUF_ZERO;
  int r;
  if (!tenant_name_ok(name)) return 0;
  r = tbl_get(t, 0, "tenant", name, strlen(name), &v);
  buf_free(&v);
  return r == -1 ? -1 : r == 0;
}

struct names {
  tenant_fn *fn;
  void *ctx;
  struct buf s;
};

static int list_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct names *l = ctx;
  (void)v; (void)vn;
  if (buf_set(&l->s, k, kn) == -1) return -1;
  return l->fn(l->ctx, l->s.s);
}

int tenant_list(struct tbl *t, tenant_fn *fn, void *ctx)
{
  struct names l = { fn, ctx, BUF_ZERO };
  int r = tbl_walk(t, 0, "tenant", 0, 0, 0, list_one, &l);
  buf_free(&l.s);
  return r;
}

/* ---------- nets, routes, settings: TENANT \0 COMP \0 THING ---------- */

struct op {
  const char *table, *tenant, *comp, *item, *value;
  int del;
};

static int op_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct op *o = ctx;
  struct buf k = BUF_ZERO;
  int r;
  if (exists_in(t, x, o->tenant) == -1) return -1;
  if (key3(&k, o->tenant, o->comp, o->item) == -1) return -1;
  if (o->del) r = tbl_del(t, x, o->table, k.s, k.len);
  else if (!strcmp(o->table, "net")) r = tbl_add(t, x, o->table, k.s, k.len, "", 0);
  else r = tbl_put(t, x, o->table, k.s, k.len, o->value, strlen(o->value));
  buf_free(&k);
  return r;
}

static int op(struct tbl *t, const char *table, const char *tenant, const char *comp,
              const char *item, const char *value, int del)
{
  struct op o = { table, tenant, comp, item, value, del };
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp)) return errno = EINVAL, -1;
  return in_txn(t, op_tx, &o);
}

int tenant_net_add(struct tbl *t, const char *tenant, const char *comp, const char *cidr)
{
  struct cidr c;
  char s[CIDR_MAX];
  if (cidr_parse(cidr, &c) == -1 || cidr_format(&c, s, sizeof s) == -1)
    return errno = EINVAL, -1;
  return op(t, "net", tenant, comp, s, "", 0);
}

int tenant_net_del(struct tbl *t, const char *tenant, const char *comp, const char *cidr)
{
  struct cidr c;
  char s[CIDR_MAX];
  if (cidr_parse(cidr, &c) == -1 || cidr_format(&c, s, sizeof s) == -1)
    return errno = EINVAL, -1;
  return op(t, "net", tenant, comp, s, 0, 1);
}

int tenant_route_set(struct tbl *t, const char *tenant, const char *comp,
                     const char *domain, const char *hostport)
{
  char d[DOMAIN_MAX + 1];
  if (domain_norm(domain, d, sizeof d) == -1 || !hostport_ok(hostport))
    return errno = EINVAL, -1;
  return op(t, "route", tenant, comp, d, hostport, 0);
}

int tenant_route_del(struct tbl *t, const char *tenant, const char *comp, const char *domain)
{
  char d[DOMAIN_MAX + 1];
  if (domain_norm(domain, d, sizeof d) == -1) return errno = EINVAL, -1;
  return op(t, "route", tenant, comp, d, 0, 1);
}

int tenant_route_get(struct tbl *t, const char *tenant, const char *comp,
                     const char *domain, struct buf *out)
{
  struct buf k = BUF_ZERO;
  char d[DOMAIN_MAX + 1];
  const char *p;
  int r = 1;
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp)) return errno = EINVAL, -1;
  if (domain_norm(domain, d, sizeof d) == -1) return -1;
  /* exact, then each parent (a.b.c, b.c, c), then "*" */
  for (p = d; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : 0) {
    if (key3(&k, tenant, comp, p) == -1) { r = -1; break; }
    r = tbl_get(t, 0, "route", k.s, k.len, out);
    if (r != 1) break;
  }
  if (r == 1 && strcmp(d, "*")) {
    if (key3(&k, tenant, comp, "*") == -1) r = -1;
    else r = tbl_get(t, 0, "route", k.s, k.len, out);
  }
  buf_free(&k);
  return r;
}

int tenant_set(struct tbl *t, const char *tenant, const char *comp,
               const char *key, const char *value)
{
  if (!key_ok(key) || !value || !text_ok(value, VALUE_MAX)) return errno = EINVAL, -1;
  return op(t, "setting", tenant, comp, key, value, 0);
}

int tenant_unset(struct tbl *t, const char *tenant, const char *comp, const char *key)
{
  if (!key_ok(key)) return errno = EINVAL, -1;
  return op(t, "setting", tenant, comp, key, 0, 1);
}

int tenant_get(struct tbl *t, const char *tenant, const char *comp,
               const char *key, struct buf *out)
{
  struct buf k = BUF_ZERO;
  int r;
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp) || !key_ok(key))
    return errno = EINVAL, -1;
  if (key3(&k, tenant, comp, key) == -1) return -1;
  r = tbl_get(t, 0, "setting", k.s, k.len, out);
  buf_free(&k);
  if (r == 0 && buf_addc(out, 0) == 0) out->len--;    /* usable as a C string */
  return r;
}

/* ---------- listings ---------- */

struct items {
  const char *tenant, *comp;
  int by_value;                   /* user table: tenant and comp in the value */
  struct buf prefix, k, v;
  tenant_item_fn *fn;
  void *ctx;
};

static int item_one(void *ctx, const void *kp, size_t kn, const void *vp, size_t vn)
{
  struct items *l = ctx;
  const char *comp, *a, *z;
  if (!l->by_value) {
    if (kn < l->prefix.len || memcmp(kp, l->prefix.s, l->prefix.len)) return 1;
    if (buf_set(&l->k, kp, kn) == -1 || buf_set(&l->v, vp, vn) == -1) return -1;
    comp = l->k.s + strlen(l->tenant) + 1;
    z = memchr(comp, 0, l->k.len - (size_t)(comp - l->k.s));
    if (!z) return 0;
    a = z + 1;
    return l->fn(l->ctx, comp, a, l->v.s);
  }
  /* user: NAME -> TENANT \0 COMP \0 HASH \0 */
  if (buf_set(&l->k, kp, kn) == -1 || buf_set(&l->v, vp, vn) == -1) return -1;
  if (!memchr(l->v.s, 0, l->v.len) || strcmp(l->v.s, l->tenant)) return 0;
  comp = l->v.s + strlen(l->v.s) + 1;
  if (comp >= l->v.s + l->v.len || !memchr(comp, 0, l->v.len - (size_t)(comp - l->v.s)))
    return 0;
  if (l->comp && strcmp(comp, l->comp)) return 0;
  return l->fn(l->ctx, comp, l->k.s, "");
}

static int list(struct tbl *t, const char *table, const char *tenant, const char *comp,
                tenant_item_fn *fn, void *ctx)
{
  struct items l;
  int r;
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp))) return errno = EINVAL, -1;
  memset(&l, 0, sizeof l);
  l.tenant = tenant;
  l.comp = comp;
  l.fn = fn;
  l.ctx = ctx;
  l.by_value = !strcmp(table, "user");
  if (key3(&l.prefix, tenant, comp, 0) == -1) return -1;
  if (l.by_value) r = tbl_walk(t, 0, table, 0, 0, 0, item_one, &l);
  else r = tbl_walk(t, 0, table, l.prefix.s, l.prefix.len, 0, item_one, &l);
  buf_free(&l.prefix);
  buf_free(&l.k);
  buf_free(&l.v);
  if (!l.by_value && r == 1) r = 0;   /* left the prefix */
  return r;
}

int tenant_net_list(struct tbl *t, const char *tenant, const char *comp,
                    tenant_item_fn *fn, void *ctx)
{
  return list(t, "net", tenant, comp, fn, ctx);
}

int tenant_user_list(struct tbl *t, const char *tenant, const char *comp,
                     tenant_item_fn *fn, void *ctx)
{
  return list(t, "user", tenant, comp, fn, ctx);
}

int tenant_route_list(struct tbl *t, const char *tenant, const char *comp,
                      tenant_item_fn *fn, void *ctx)
{
  return list(t, "route", tenant, comp, fn, ctx);
}

int tenant_set_list(struct tbl *t, const char *tenant, const char *comp,
                    tenant_item_fn *fn, void *ctx)
{
  return list(t, "setting", tenant, comp, fn, ctx);
}

/* ---------- SMTP AUTH users ---------- */

int tenant_hash(const char *password, char *out, size_t n)
{
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  struct crypt_data *cd;
  const char *h;
  int r = -1;
  if (!password || !*password || !text_ok(password, PASSWORD_MAX))
    return errno = EINVAL, -1;
  /* yescrypt at libxcrypt's default cost, salt from the OS. */
  if (!crypt_gensalt_rn("$y$", 0, 0, 0, salt, sizeof salt)) return errno = EIO, -1;
  cd = calloc(1, sizeof *cd);
  if (!cd) return -1;
  h = crypt_r(password, salt, cd);
  if (!h || h[0] == '*') errno = EIO;
  else if (strlen(h) >= n) errno = ENAMETOOLONG;
  else {
    memcpy(out, h, strlen(h) + 1);
    r = 0;
  }
  explicit_bzero(cd, sizeof *cd);
  free(cd);
  return r;
}

struct user_op {
  const char *tenant, *comp, *user, *hash;
};

static int user_set_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct user_op *u = ctx;
  struct buf v = BUF_ZERO;
  int r;
  if (exists_in(t, x, u->tenant) == -1) return -1;
  r = tbl_get(t, x, "user", u->user, strlen(u->user), &v);
  if (r == -1) goto out;
  if (r == 0 && (!memchr(v.s, 0, v.len) || strcmp(v.s, u->tenant))) {
    r = -1;                       /* user names are global: another tenant's */
    errno = EEXIST;
    goto out;
  }
  buf_trunc(&v, 0);
  if (buf_addz(&v, u->tenant) == -1 || buf_addz(&v, u->comp) == -1
      || buf_addz(&v, u->hash) == -1) {
    r = -1;
    goto out;
  }
  r = tbl_put(t, x, "user", u->user, strlen(u->user), v.s, v.len);
out:
  buf_free(&v);
  return r;
}

int tenant_user_set(struct tbl *t, const char *tenant, const char *comp,
                    const char *user, const char *password)
{
  char hash[CRYPT_OUTPUT_SIZE];
  struct user_op u = { tenant, comp, user, hash };
  int r;
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp) || !tenant_user_ok(user))
    return errno = EINVAL, -1;
  /* Hashed before the transaction: no locks held while yescrypt works. */
  if (tenant_hash(password, hash, sizeof hash) == -1) return -1;
  r = in_txn(t, user_set_tx, &u);
  explicit_bzero(hash, sizeof hash);
  return r;
}

static int user_del_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct user_op *u = ctx;
  struct buf v = BUF_ZERO;
  int r;
  if (exists_in(t, x, u->tenant) == -1) return -1;
  r = tbl_get(t, x, "user", u->user, strlen(u->user), &v);
  if (r == 0) {
    const char *comp = memchr(v.s, 0, v.len);
    if (!comp || strcmp(v.s, u->tenant) || !memchr(comp + 1, 0, v.len - (size_t)(comp + 1 - v.s))
        || strcmp(comp + 1, u->comp))
      r = 1;                      /* not this tenant's (composition's) user */
    else
      r = tbl_del(t, x, "user", u->user, strlen(u->user));
  }
  buf_free(&v);
  return r;
}

int tenant_user_del(struct tbl *t, const char *tenant, const char *comp, const char *user)
{
  struct user_op u = { tenant, comp, user, 0 };
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp) || !tenant_user_ok(user))
    return errno = EINVAL, -1;
  return in_txn(t, user_del_tx, &u);
}

/* ---------- the access snapshot ---------- */

static int snap_net(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct buf *out = ctx;
  const char *p = k, *end = p + kn, *z1, *z2;
  (void)v; (void)vn;
  z1 = memchr(p, 0, kn);
  if (!z1) return 0;
  z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
  if (!z2) return 0;
  if (buf_adds(out, "net\t") == -1 || buf_add(out, p, (size_t)(z1 - p)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z1 + 1, (size_t)(z2 - z1 - 1)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z2 + 1, (size_t)(end - z2 - 1)) == -1
      || buf_addc(out, '\n') == -1)
    return -1;
  return 0;
}

static int snap_user(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct buf *out = ctx;
  const char *p = v, *end = p + vn, *z1, *z2, *z3;
  z1 = memchr(p, 0, vn);
  if (!z1) return 0;
  z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
  if (!z2) return 0;
  z3 = memchr(z2 + 1, 0, (size_t)(end - z2 - 1));
  if (!z3) return 0;
  if (buf_adds(out, "user\t") == -1 || buf_add(out, k, kn) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, p, (size_t)(z1 - p)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z1 + 1, (size_t)(z2 - z1 - 1)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z2 + 1, (size_t)(z3 - z2 - 1)) == -1
      || buf_addc(out, '\n') == -1)
    return -1;
  return 0;
}

/* "received TENANT COMP MODE": the Received header mode of a composition
   (setting "received", doc/settings.md), for smtp-recv. */
static int snap_received(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct buf *out = ctx;
  const char *p = k, *end = p + kn, *z1, *z2;
  size_t i;
  z1 = memchr(p, 0, kn);
  if (!z1) return 0;
  z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
  if (!z2 || (size_t)(end - z2 - 1) != 8 || memcmp(z2 + 1, "received", 8)) return 0;
  for (i = 0; i < vn; i++)
    if (((const char *)v)[i] < 'a' || ((const char *)v)[i] > 'z') {
      if (((const char *)v)[i] != '-') return 0;
    }
  if (buf_adds(out, "received\t") == -1 || buf_add(out, p, (size_t)(z1 - p)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z1 + 1, (size_t)(z2 - z1 - 1)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, v, vn) == -1 || buf_addc(out, '\n') == -1)
    return -1;
  return 0;
}

/* "bounce TENANT COMP DOMAIN": the bounce domain of a composition
   (setting "bounce_domain", doc/bounces.md), for the receiving server. */
static int snap_bounce(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct buf *out = ctx;
  const char *p = k, *end = p + kn, *z1, *z2;
  size_t i;
  z1 = memchr(p, 0, kn);
  if (!z1) return 0;
  z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
  if (!z2 || (size_t)(end - z2 - 1) != 13 || memcmp(z2 + 1, "bounce_domain", 13)) return 0;
  if (vn == 0 || vn > DOMAIN_MAX) return 0;
  for (i = 0; i < vn; i++) {
    char c = ((const char *)v)[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '.' || c == '-' || c == '_'))
      return 0;
  }
  if (buf_adds(out, "bounce\t") == -1 || buf_add(out, p, (size_t)(z1 - p)) == -1
      || buf_addc(out, '\t') == -1 || buf_add(out, z1 + 1, (size_t)(z2 - z1 - 1)) == -1
      || buf_addc(out, '\t') == -1)
    return -1;
  for (i = 0; i < vn; i++) {
    char c = ((const char *)v)[i];
    if (buf_addc(out, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c)) == -1) return -1;
  }
  return buf_addc(out, '\n');
}

static int snap_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct buf *out = ctx;
  buf_trunc(out, 0);
  if (buf_adds(out, "# access snapshot: written by cmcctl from db/; do not edit\n") == -1
      || tbl_walk(t, x, "net", 0, 0, 0, snap_net, out) != 0
      || tbl_walk(t, x, "user", 0, 0, 0, snap_user, out) != 0
      || tbl_walk(t, x, "setting", 0, 0, 0, snap_received, out) != 0
      || tbl_walk(t, x, "setting", 0, 0, 0, snap_bounce, out) != 0)
    return -1;
  return 0;
}

int tenant_export_access(struct tbl *t, const char *path)
{
  struct buf out = BUF_ZERO, lock = BUF_ZERO;
  int fd = -1, r = -1, e;
  /* Exports are serialised by a lock file: the last one to write has
     read after every change committed before it began, so a slow export
     never puts back an older snapshot over a newer one. */
  if (buf_adds(&lock, path) == -1 || buf_adds(&lock, ".lock") == -1) goto out;
  fd = open(lock.s, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd == -1) goto out;
  while (flock(fd, LOCK_EX) == -1)
    if (errno != EINTR) goto out;
  if (in_txn(t, snap_tx, &out) == -1) goto out;
  r = file_write_atomic(path, out.s, out.len, 0640);
out:
  e = errno;
  if (fd != -1) close(fd);
  buf_free(&out);
  buf_free(&lock);
  errno = e;
  return r;
}
