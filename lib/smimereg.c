/* smimereg.c: S/MIME registrations per tenant and From address or domain,
   their credential files and table "smime" (see smimereg.h, doc/smime.md).
   The file is written before the row that names it, and removed after the
   row is gone, so a row never names a file that is not there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "addr.h"
#include "dkimkey.h"
#include "io.h"
#include "smimereg.h"

#define TABLE "smime"
#define KEY_MAX (2 + SMIMEREG_TENANT_MAX + 1 + SMIMEREG_TARGET_MAX + 1)
#define TXN_TRIES 5
#define NFIELDS 11

int smimereg_target(const char *in, struct buf *out)
{
  struct buf a = BUF_ZERO;
  const char *at = strrchr(in, '@');
  size_t i;
  int r = -1;
  buf_trunc(out, 0);
  if (!at) {
    if (addr_domain_ascii(out, in) == -1) return -1;
  } else {
    if (addr_parse(&a, in, strlen(in), 0) == -1) return -1;
    at = strrchr(a.s, '@');
    if (!at || at == a.s) goto inval;
    for (i = 0; a.s + i < at; i++) {
      char c = a.s[i];
      if (buf_addc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c) == -1) goto out;
    }
    if (buf_addc(out, '@') == -1) goto out;
    if (addr_domain_ascii(out, at + 1) == -1) goto out;
  }
  at = strrchr(out->s, '@');
  if (!dkimkey_domain_ok(at ? at + 1 : out->s) || out->len > SMIMEREG_TARGET_MAX) goto inval;
  r = 0;
  goto out;
inval:
  errno = EINVAL;
out:
  buf_free(&a);
  return r;
}

int smimereg_path(char *out, size_t n, const char *keydir, const char *tenant, const char *fp)
{
  int r = snprintf(out, n, "%s/%s/%s.pem", keydir, tenant, fp);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

static int mkkey(char *k, size_t *n, char tag, const char *a, const char *b)
{
  const char *part[2] = { a, b };
  size_t len = 0, i;
  k[len++] = tag;
  k[len++] = 0;
  for (i = 0; i < 2 && part[i]; i++) {
    size_t l = strlen(part[i]);
    if (len + l + 1 > KEY_MAX) return errno = EINVAL, -1;
    memcpy(k + len, part[i], l + 1);
    len += l + 1;
  }
  *n = len;
  return 0;
}

static int copy(char *dst, size_t size, const char *src)
{
  size_t l = strlen(src);
  if (l >= size) return errno = EINVAL, -1;
  memcpy(dst, src, l + 1);
  return 0;
}

static int num(const char *s, long long *v)
{
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return errno = EINVAL, -1;
  return 0;
}

static int decode(struct smimereg_ent *e, const char *tenant, const char *target,
                  const char *v, size_t n)
{
  const char *f[NFIELDS];
  size_t i = 0, c = 0;
  long long x;
  memset(e, 0, sizeof *e);
  while (i < n && c < NFIELDS) {
    const char *end = memchr(v + i, 0, n - i);
    if (!end) break;
    f[c++] = v + i;
    i = (size_t)(end - v) + 1;
  }
  if (c != NFIELDS) return errno = EINVAL, -1;
  if (copy(e->tenant, sizeof e->tenant, tenant) == -1
      || copy(e->target, sizeof e->target, target) == -1
      || copy(e->i.fp, sizeof e->i.fp, f[0]) == -1 || strlen(e->i.fp) != 64
      || copy(e->i.subject, sizeof e->i.subject, f[1]) == -1
      || copy(e->i.issuer, sizeof e->i.issuer, f[2]) == -1
      || copy(e->i.serial, sizeof e->i.serial, f[3]) == -1
      || copy(e->i.email, sizeof e->i.email, f[4]) == -1
      || copy(e->i.keyalg, sizeof e->i.keyalg, f[5]) == -1)
    return errno = EINVAL, -1;
  if (num(f[6], &x) == -1) return -1;
  e->i.bits = (unsigned)x;
  if (num(f[7], &e->i.not_before) == -1 || num(f[8], &e->i.not_after) == -1) return -1;
  if (num(f[9], &x) == -1) return -1;
  e->i.nchain = (unsigned)x;
  return num(f[10], &e->added);
}

static int encode(struct buf *v, const struct smimereg_ent *e)
{
  buf_trunc(v, 0);
  return buf_printf(v, "%s%c%s%c%s%c%s%c%s%c%s%c%u%c%lld%c%lld%c%u%c%lld%c", e->i.fp, 0,
                    e->i.subject, 0, e->i.issuer, 0, e->i.serial, 0, e->i.email, 0,
                    e->i.keyalg, 0, e->i.bits, 0, e->i.not_before, 0, e->i.not_after, 0,
                    e->i.nchain, 0, e->added, 0);
}

static int get_txn(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *target,
                   struct smimereg_ent *e, int rmw)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 'c', tenant, target) == -1) return -1;
  r = rmw ? tbl_get_rmw(t, x, TABLE, key, kn, &v) : tbl_get(t, x, TABLE, key, kn, &v);
  if (r == 0 && decode(e, tenant, target, v.s, v.len) == -1) r = -1;
  buf_free(&v);
  return r;
}

int smimereg_get(struct tbl *t, const char *tenant, const char *target, struct smimereg_ent *e)
{
  return get_txn(t, 0, tenant, target, e, 0);
}

int smimereg_match(struct tbl *t, const char *tenant, const char *addr, struct smimereg_ent *e)
{
  const char *at = strrchr(addr, '@');
  int r = get_txn(t, 0, tenant, addr, e, 0);
  if (r != 1 || !at) return r;
  return get_txn(t, 0, tenant, at + 1, e, 0);
}

/* --- listing --- */
struct walk {
  char prefix[KEY_MAX];
  size_t pn;
  char tag;
  smimereg_fn *fn;
  smimereg_skip_fn *skipfn;
  void *ctx;
};

static int walk_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct walk *w = ctx;
  const char *key = k, *tenant, *name;
  struct smimereg_ent e;
  size_t tl;
  if (kn < w->pn || memcmp(key, w->prefix, w->pn)) return 1;   /* past our keys */
  if (kn < 4 || key[kn - 1] != 0) return 0;
  tenant = key + 2;
  tl = strlen(tenant);
  if (2 + tl + 1 >= kn) return 0;
  name = tenant + tl + 1;
  if (2 + tl + 1 + strlen(name) + 1 != kn) return 0;
  if (w->tag == 'x') return w->skipfn(w->ctx, name) ? 2 : 0;
  if (decode(&e, tenant, name, v, vn) == -1) return 0;     /* unreadable row: skipped */
  return w->fn(w->ctx, &e);
}

static int walk(struct tbl *t, char tag, const char *tenant, struct walk *w)
{
  int r;
  w->tag = tag;
  w->prefix[0] = tag;
  w->prefix[1] = 0;
  w->pn = 2;
  if (tenant) {
    size_t l = strlen(tenant);
    if (l > SMIMEREG_TENANT_MAX) return errno = EINVAL, -1;
    memcpy(w->prefix + 2, tenant, l + 1);
    w->pn += l + 1;
  }
  r = tbl_walk(t, 0, TABLE, w->prefix, w->pn, 0, walk_one, w);
  return r == 1 ? 0 : r;
}

struct stop { smimereg_fn *fn; void *ctx; int r; };
static int pass_on(void *ctx, const struct smimereg_ent *e)
{
  struct stop *s = ctx;
  int r = s->fn(s->ctx, e);
  if (r) s->r = r > 0 ? r : -1;
  return r ? 2 : 0;
}

int smimereg_list(struct tbl *t, const char *tenant, smimereg_fn *fn, void *ctx)
{
  struct walk w;
  struct stop s = { fn, ctx, 0 };
  int r;
  memset(&w, 0, sizeof w);
  w.fn = pass_on;
  w.ctx = &s;
  r = walk(t, 'c', tenant, &w);
  if (r == -1) return -1;
  return s.r;
}

/* --- add, del --- */

struct uses { const char *fp; int n; };
static int count_fp(void *ctx, const struct smimereg_ent *e)
{
  struct uses *u = ctx;
  if (!strcmp(e->i.fp, u->fp)) u->n++;
  return 0;
}

/* Remove the file of fp when no registration of tenant names it. */
static void drop_file(struct tbl *t, const char *keydir, const char *tenant, const char *fp)
{
  char path[4096];
  struct uses u = { fp, 0 };
  if (smimereg_list(t, tenant, count_fp, &u) == -1 || u.n) return;
  if (smimereg_path(path, sizeof path, keydir, tenant, fp) == 0) unlink(path);
}

struct put { const char *tenant, *target; struct smimereg_ent *e, old; int replace, had; };
static int put_txn(struct tbl *t, struct tbl_txn *x, struct put *p)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r = get_txn(t, x, p->tenant, p->target, &p->old, 1);
  if (r == -1) return -1;
  p->had = r == 0;
  if (p->had && !p->replace) return 1;
  if (mkkey(key, &kn, 'c', p->tenant, p->target) == -1 || encode(&v, p->e) == -1) {
    buf_free(&v);
    return -1;
  }
  r = tbl_put(t, x, TABLE, key, kn, v.s, v.len);
  buf_free(&v);
  return r;
}

int smimereg_add(struct tbl *t, const char *keydir, const char *tenant, const char *target,
                 const struct smimecert *c, int replace, struct smimereg_ent *e)
{
  char dir[4096], path[4096];
  struct buf pem = BUF_ZERO;
  struct put p;
  struct stat st;
  int r, tries, existed, e2;
  memset(e, 0, sizeof *e);
  if (!dkimkey_tenant_ok(tenant) || strlen(target) > SMIMEREG_TARGET_MAX)
    return errno = EINVAL, -1;
  if (copy(e->tenant, sizeof e->tenant, tenant) == -1
      || copy(e->target, sizeof e->target, target) == -1)
    return -1;
  if (smimecert_info(c, &e->i) == -1) return -1;
  e->added = (long long)time(0);
  if (snprintf(dir, sizeof dir, "%s/%s", keydir, tenant) >= (int)sizeof dir
      || smimereg_path(path, sizeof path, keydir, tenant, e->i.fp) == -1)
    return errno = ENAMETOOLONG, -1;
  /* The key directories are the signer's alone. */
  if (mkdir_p(dir, 0700) == -1 || chmod(keydir, 0700) == -1 || chmod(dir, 0700) == -1)
    return -1;
  existed = stat(path, &st) == 0;
  if (smimecert_pem(c, &pem) == -1) return -1;
  r = file_write_atomic(path, pem.s, pem.len, 0600);
  e2 = errno;
  OPENSSL_cleanse(pem.s, pem.len);
  buf_free(&pem);
  if (r == -1) return errno = e2, -1;
  memset(&p, 0, sizeof p);
  p.tenant = tenant;
  p.target = target;
  p.e = e;
  p.replace = replace;
  for (tries = 1;; tries++) {
    struct tbl_txn *x;
    if (tbl_begin(t, &x) == -1) goto fail;
    r = put_txn(t, x, &p);
    if (r >= 0 && tbl_commit(x) == 0) break;
    if (r < 0) tbl_abort(x);
    if (errno != EDEADLK || tries == TXN_TRIES) goto fail;
  }
  if (r == 1) {                      /* not ours to replace: leave things as they were */
    if (!existed) drop_file(t, keydir, tenant, e->i.fp);
    return 1;
  }
  if (p.had && strcmp(p.old.i.fp, e->i.fp)) drop_file(t, keydir, tenant, p.old.i.fp);
  return 0;
fail:
  e2 = errno;
  if (!existed) drop_file(t, keydir, tenant, e->i.fp);
  errno = e2;
  return -1;
}

int smimereg_del(struct tbl *t, const char *keydir, const char *tenant, const char *target)
{
  char key[KEY_MAX];
  size_t kn;
  struct smimereg_ent e;
  int r, tries;
  if (mkkey(key, &kn, 'c', tenant, target) == -1) return -1;
  for (tries = 1;; tries++) {
    struct tbl_txn *x;
    if (tbl_begin(t, &x) == -1) return -1;
    r = get_txn(t, x, tenant, target, &e, 1);
    if (r == 0) r = tbl_del(t, x, TABLE, key, kn) == -1 ? -1 : 0;
    if (r >= 0 && tbl_commit(x) == 0) break;
    if (r < 0) tbl_abort(x);
    if (errno != EDEADLK || tries == TXN_TRIES) return -1;
  }
  if (r == 0) drop_file(t, keydir, tenant, e.i.fp);
  return r;
}

/* --- recipient domains without S/MIME --- */

int smimereg_skip_set(struct tbl *t, const char *tenant, const char *domain, int on)
{
  char key[KEY_MAX];
  size_t kn;
  if (mkkey(key, &kn, 'x', tenant, domain) == -1) return -1;
  if (on) return tbl_put(t, 0, TABLE, key, kn, "", 0);
  return tbl_del(t, 0, TABLE, key, kn);
}

int smimereg_skip_get(struct tbl *t, const char *tenant, const char *domain)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 'x', tenant, domain) == -1) return -1;
  r = tbl_get(t, 0, TABLE, key, kn, &v);
  buf_free(&v);
  return r == -1 ? -1 : r == 0;
}

int smimereg_skip_list(struct tbl *t, const char *tenant, smimereg_skip_fn *fn, void *ctx)
{
  struct walk w;
  memset(&w, 0, sizeof w);
  w.skipfn = fn;
  w.ctx = ctx;
  return walk(t, 'x', tenant, &w);
}
