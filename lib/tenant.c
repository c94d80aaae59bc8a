/* tenant.c: tenants, relay networks, SMTP AUTH users, routes and settings
   in the tables of tbl.h, and the access snapshot (see tenant.h and
   doc/tables.md).  Tables (fields \0-separated):
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
#include "io.h"
#include "tenant.h"

#define COMP_MAX TENANT_NAME_MAX
#define USER_MAX 128
#define PASSWORD_MAX 1024
#define DOMAIN_MAX 253
#define HOSTPORT_MAX 300
#define KEY_MAX 64
#define VALUE_MAX 4096
#define CIDR_MAX 64                      /* text form, with the prefix */
#define ACCESS_FILE_MAX (64u << 20)
#define TXN_TRIES 8

/* Verified against when the user is unknown, so that an unknown user
   costs what a known one does.  A hash of no password anyone knows. */
static const char dummy_hash[] =
  "$y$j9T$xp9TWkaA1L1o4VlZ3taod/$6A3wU8hwlDh8BsQf9e972qwmMQ21NarVVcHRrb.7T97";

/* ---------- names and values ---------- */

static int ident_ok(const char *s, size_t max)
{
  size_t i;
  if (!s || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
          || s[i] == '_' || s[i] == '-'))
      return 0;
  return i <= max;
}

int tenant_name_ok(const char *name)
{
  return ident_ok(name, TENANT_NAME_MAX);
}

int tenant_comp_ok(const char *comp)
{
  return ident_ok(comp, COMP_MAX);
}

int tenant_user_ok(const char *u)
{
  size_t i;
  if (!u || !*u) return 0;
  for (i = 0; u[i]; i++)
    if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z')
          || (u[i] >= '0' && u[i] <= '9') || strchr("._@+=-", u[i])))
      return 0;
  return i <= USER_MAX;
}

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

/* ---------- CIDR ---------- */

struct cidr {
  int family;                     /* AF_INET or AF_INET6 */
  unsigned char a[16];
  unsigned prefix;
};

static int addr_parse(const char *s, int *family, unsigned char *a)
{
  if (inet_pton(AF_INET, s, a) == 1) {
    *family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, s, a) == 1) {
    static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
    if (!memcmp(a, mapped, 12)) {       /* ::ffff:a.b.c.d is IPv4 */
      memmove(a, a + 12, 4);
      *family = AF_INET;
    } else {
      *family = AF_INET6;
    }
    return 0;
  }
  return errno = EINVAL, -1;
}

/* Parse "ADDR" or "ADDR/PREFIX"; host bits are cleared. */
static int cidr_parse(const char *s, struct cidr *c)
{
  char tmp[CIDR_MAX];
  char *slash, *end;
  size_t n = strlen(s), bytes, i;
  unsigned max;
  if (n == 0 || n >= sizeof tmp) return errno = EINVAL, -1;
  memcpy(tmp, s, n + 1);
  slash = strchr(tmp, '/');
  if (slash) *slash = 0;
  memset(c, 0, sizeof *c);
  if (addr_parse(tmp, &c->family, c->a) == -1) return -1;
  if (c->family == AF_INET && strchr(tmp, ':')) return errno = EINVAL, -1;  /* no mapped nets */
  max = c->family == AF_INET ? 32 : 128;
  c->prefix = max;
  if (slash) {
    unsigned long p;
    if (slash[1] < '0' || slash[1] > '9') return errno = EINVAL, -1;
    errno = 0;
    p = strtoul(slash + 1, &end, 10);
    if (errno || *end || p > max) return errno = EINVAL, -1;
    c->prefix = (unsigned)p;
  }
  bytes = max / 8;
  for (i = 0; i < bytes; i++) {
    unsigned bit = (unsigned)i * 8;
    if (bit >= c->prefix) c->a[i] = 0;
    else if (bit + 8 > c->prefix) c->a[i] &= (unsigned char)(0xff << (8 - (c->prefix - bit)));
  }
  return 0;
}

static int cidr_format(const struct cidr *c, char *out, size_t n)
{
  char a[INET6_ADDRSTRLEN];
  int r;
  if (!inet_ntop(c->family, c->a, a, sizeof a)) return -1;
  r = snprintf(out, n, "%s/%u", a, c->prefix);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

static int cidr_match(const struct cidr *c, int family, const unsigned char *a)
{
  unsigned full = c->prefix / 8, rest = c->prefix % 8;
  if (family != c->family) return 0;
  if (memcmp(a, c->a, full)) return 0;
  if (rest && ((a[full] ^ c->a[full]) & (0xff << (8 - rest)) & 0xff)) return 0;
  return 1;
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

/* Constant-time comparison of two C strings of public length. */
static int same(const char *a, const char *b)
{
  size_t n = strlen(a), i;
  unsigned char d = 0;
  if (n != strlen(b)) return 0;
  for (i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

int tenant_verify(const char *password, const char *hash)
{
  struct crypt_data *cd = calloc(1, sizeof *cd);
  const char *h;
  int r;
  if (!cd) return -1;
  h = crypt_r(password ? password : "", hash ? hash : dummy_hash, cd);
  r = h && h[0] != '*' && hash && same(h, hash);
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

struct anet {
  struct cidr c;
  const char *tenant, *comp;
};

struct auser {
  const char *name, *tenant, *comp, *hash;
};

struct arcvd {
  const char *tenant, *comp, *mode;
};

struct abounce {
  const char *tenant, *comp, *domain;
};

struct access {
  struct buf text;
  struct anet *nets;
  size_t nnets;
  struct auser *users;
  size_t nusers;
  struct arcvd *rcvd;
  size_t nrcvd;
  struct abounce *bounce;
  size_t nbounce;
};

static int user_cmp(const void *a, const void *b)
{
  return strcmp(((const struct auser *)a)->name, ((const struct auser *)b)->name);
}

/* Split line (NUL-terminated) at TABs into f; the count of fields. */
static size_t fields(char *line, char **f, size_t max)
{
  size_t n = 0;
  for (;;) {
    char *tab = strchr(line, '\t');
    if (n == max) return max + 1;
    f[n++] = line;
    if (!tab) return n;
    *tab = 0;
    line = tab + 1;
  }
}

static int grow(void **p, size_t n, size_t *cap, size_t size)
{
  void *q;
  size_t nc;
  if (n < *cap) return 0;
  nc = *cap ? *cap * 2 : 16;
  if (nc < *cap || nc > ((size_t)-1) / size) return errno = ENOMEM, -1;
  q = realloc(*p, nc * size);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

static int parse(struct access *a)
{
  char *p, *end;
  size_t capn = 0, capu = 0, capr = 0, capb = 0;
  if (!a->text.len) return 0;
  p = a->text.s;
  end = p + a->text.len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p)), *f[6];
    size_t n;
    if (!nl) return errno = EINVAL, -1;       /* a cut file */
    *nl = 0;
    if (*p && *p != '#') {
      n = fields(p, f, 5);
      if (!strcmp(f[0], "net")) {
        struct anet *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2])) return errno = EINVAL, -1;
        if (grow((void **)&a->nets, a->nnets, &capn, sizeof *a->nets) == -1) return -1;
        x = &a->nets[a->nnets];
        if (cidr_parse(f[3], &x->c) == -1) return -1;
        x->tenant = f[1];
        x->comp = f[2];
        a->nnets++;
      } else if (!strcmp(f[0], "user")) {
        struct auser *u;
        if (n != 5 || !tenant_user_ok(f[1]) || !tenant_name_ok(f[2]) || !tenant_comp_ok(f[3])
            || f[4][0] != '$')
          return errno = EINVAL, -1;
        if (grow((void **)&a->users, a->nusers, &capu, sizeof *a->users) == -1) return -1;
        u = &a->users[a->nusers++];
        u->name = f[1];
        u->tenant = f[2];
        u->comp = f[3];
        u->hash = f[4];
      } else if (!strcmp(f[0], "received")) {
        struct arcvd *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2])) return errno = EINVAL, -1;
        if (grow((void **)&a->rcvd, a->nrcvd, &capr, sizeof *a->rcvd) == -1) return -1;
        x = &a->rcvd[a->nrcvd++];
        x->tenant = f[1];
        x->comp = f[2];
        x->mode = f[3];
      } else if (!strcmp(f[0], "bounce")) {
        struct abounce *x;
        if (n != 4 || !tenant_name_ok(f[1]) || !tenant_comp_ok(f[2]) || !*f[3]) return errno = EINVAL, -1;
        if (grow((void **)&a->bounce, a->nbounce, &capb, sizeof *a->bounce) == -1) return -1;
        x = &a->bounce[a->nbounce++];
        x->tenant = f[1];
        x->comp = f[2];
        x->domain = f[3];
      }
      /* other record types are for later readers: ignored */
    }
    p = nl + 1;
  }
  if (a->nusers) qsort(a->users, a->nusers, sizeof *a->users, user_cmp);
  return 0;
}

int access_load(struct access **ap, const char *path)
{
  struct access *a = calloc(1, sizeof *a);
  *ap = 0;
  if (!a) return -1;
  if (file_read(path, &a->text, ACCESS_FILE_MAX) == -1) {
    if (errno != ENOENT) goto fail;
    buf_trunc(&a->text, 0);
  }
  if (parse(a) == -1) goto fail;
  *ap = a;
  return 0;
fail:
  access_free(a);
  return -1;
}

void access_free(struct access *a)
{
  int e = errno;
  if (!a) return;
  buf_free(&a->text);
  free(a->nets);
  free(a->users);
  free(a->rcvd);
  free(a->bounce);
  free(a);
  errno = e;
}

int access_by_ip(const struct access *a, const char *ip, const char **tenant, const char **comp)
{
  unsigned char addr[16];
  int family, best = -1;
  size_t i;
  if (!a || !ip || addr_parse(ip, &family, addr) == -1) return 0;
  /* The longest prefix wins where tenants' ranges overlap. */
  for (i = 0; i < a->nnets; i++)
    if (cidr_match(&a->nets[i].c, family, addr)
        && (best < 0 || a->nets[i].c.prefix > a->nets[best].c.prefix))
      best = (int)i;
  if (best < 0) return 0;
  if (tenant) *tenant = a->nets[best].tenant;
  if (comp) *comp = a->nets[best].comp;
  return 1;
}

int access_by_user(const struct access *a, const char *user, const char *password,
                   const char **tenant, const char **comp)
{
  struct auser key, *u = 0;
  int ok;
  if (a && user && a->nusers) {
    key.name = user;
    u = bsearch(&key, a->users, a->nusers, sizeof *a->users, user_cmp);
  }
  /* The same crypt work whether or not the user exists. */
  ok = tenant_verify(password, u ? u->hash : dummy_hash);
  if (ok != 1 || !u) return 0;
  if (tenant) *tenant = u->tenant;
  if (comp) *comp = u->comp;
  return 1;
}

const char *access_received(const struct access *a, const char *tenant, const char *comp)
{
  size_t i;
  if (!a || !tenant || !comp) return 0;
  for (i = 0; i < a->nrcvd; i++)
    if (!strcmp(a->rcvd[i].tenant, tenant) && !strcmp(a->rcvd[i].comp, comp)) return a->rcvd[i].mode;
  return 0;
}

int access_bounce(const struct access *a, const char *domain, const char **tenant,
                  const char **comp)
{
  size_t i;
  int n = 0;
  if (!a || !domain) return 0;
  for (i = 0; i < a->nbounce; i++)
    if (!strcasecmp(a->bounce[i].domain, domain)) {
      if (!n && tenant) *tenant = a->bounce[i].tenant;
      if (!n && comp) *comp = a->bounce[i].comp;
      n++;
    }
  return n;
}
