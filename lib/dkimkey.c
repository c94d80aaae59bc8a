/* dkimkey.c: DKIM key pairs, their files and their metadata (see
   dkimkey.h, doc/dkim.md).  Keys are made by OpenSSL (EVP); the private
   key is written once, atomically, mode 0600, and never printed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "dkimkey.h"
#include "io.h"

#define TABLE "dkim"
#define KEY_MAX (2 + DKIMKEY_TENANT_MAX + 1 + DKIMKEY_DOMAIN_MAX + 1 + DKIMKEY_SELECTOR_MAX + 1)
#define TXN_TRIES 5                 /* a deadlock aborts and retries this often */
#define SELECTOR_SERIAL_MAX 99      /* cmcYYYYMMDD-2 .. -99 */

static const char *const alg_names[] = { 0, "rsa", "ed25519" };
static const char *const state_names[] = { 0, "new", "active", "old", "retired" };

int dkimkey_tenant_ok(const char *s)
{
  size_t i;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (i = 1; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
          || s[i] == '_' || s[i] == '-'))
      return 0;
  return i <= DKIMKEY_TENANT_MAX;
}

int dkimkey_domain_ok(const char *s)
{
  size_t i, label = 0;
  for (i = 0; s[i]; i++) {
    char c = s[i];
    if (c == '.') {
      if (label == 0) return 0;              /* leading or double dot */
      label = 0;
      continue;
    }
    if (label == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return 0;
    if (++label > 63) return 0;
  }
  return i > 0 && i <= DKIMKEY_DOMAIN_MAX && label > 0;
}

int dkimkey_selector_ok(const char *s)
{
  size_t i;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (i = 1; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return 0;
  return i <= DKIMKEY_SELECTOR_MAX;
}

const char *dkimkey_alg_name(int alg)
{
  return alg == DKIMKEY_RSA || alg == DKIMKEY_ED25519 ? alg_names[alg] : "unknown";
}

int dkimkey_alg_parse(const char *s)
{
  if (!strcmp(s, "rsa")) return DKIMKEY_RSA;
  if (!strcmp(s, "ed25519")) return DKIMKEY_ED25519;
  return -1;
}

const char *dkimkey_state_name(int state)
{
  return state >= DKIMKEY_NEW && state <= DKIMKEY_RETIRED ? state_names[state] : "unknown";
}

static int state_parse(const char *s)
{
  int i;
  for (i = DKIMKEY_NEW; i <= DKIMKEY_RETIRED; i++)
    if (!strcmp(s, state_names[i])) return i;
  return -1;
}

int dkimkey_path(char *out, size_t n, const char *keydir, const char *tenant,
                 const char *domain, const char *selector)
{
  int r = snprintf(out, n, "%s/%s/%s/%s.key", keydir, tenant, domain, selector);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

/* Table keys: a tag letter, then each part NUL-ended.  *n its length. */
static int mkkey(char *k, size_t *n, char tag, const char *a, const char *b, const char *c)
{
  const char *part[3] = { a, b, c };
  size_t len = 0, i;
  k[len++] = tag;
  k[len++] = 0;
  for (i = 0; i < 3 && part[i]; i++) {
    size_t l = strlen(part[i]);
    if (len + l + 1 > KEY_MAX) return errno = EINVAL, -1;
    memcpy(k + len, part[i], l + 1);
    len += l + 1;
  }
  *n = len;
  return 0;
}

/* Split v[0..n) into up to max NUL-ended fields; the count found. */
static size_t fields(const char *v, size_t n, const char **f, size_t max)
{
  size_t i = 0, c = 0;
  while (i < n && c < max) {
    const char *end = memchr(v + i, 0, n - i);
    if (!end) break;
    f[c++] = v + i;
    i = (size_t)(end - v) + 1;
  }
  return c;
}

static int copy(char *dst, size_t size, const char *src)
{
  size_t l = strlen(src);
  if (l >= size) return errno = EINVAL, -1;
  memcpy(dst, src, l + 1);
  return 0;
}

/* Fill k from a stored record (names given apart).  0 or -1 EINVAL. */
static int decode(struct dkimkey *k, const char *tenant, const char *domain,
                  const char *selector, const char *v, size_t n)
{
  const char *f[6];
  char *end;
  memset(k, 0, sizeof *k);
  if (fields(v, n, f, 6) != 6) return errno = EINVAL, -1;
  if (copy(k->tenant, sizeof k->tenant, tenant) == -1
      || copy(k->domain, sizeof k->domain, domain) == -1
      || copy(k->selector, sizeof k->selector, selector) == -1
      || copy(k->pub, sizeof k->pub, f[5]) == -1)
    return -1;
  if ((k->alg = dkimkey_alg_parse(f[0])) == -1) return errno = EINVAL, -1;
  if ((k->state = state_parse(f[3])) == -1) return errno = EINVAL, -1;
  k->bits = (unsigned)strtoul(f[1], &end, 10);
  if (*end) return errno = EINVAL, -1;
  k->created = strtoll(f[2], &end, 10);
  if (*end) return errno = EINVAL, -1;
  k->changed = strtoll(f[4], &end, 10);
  if (*end) return errno = EINVAL, -1;
  return 0;
}

static int encode(struct buf *v, const struct dkimkey *k)
{
  buf_trunc(v, 0);
  return buf_printf(v, "%s%c%u%c%lld%c%s%c%lld%c%s%c", dkimkey_alg_name(k->alg), 0,
                    k->bits, 0, k->created, 0, dkimkey_state_name(k->state), 0,
                    k->changed, 0, k->pub, 0);
}

int dkimkey_get(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                const char *selector, struct dkimkey *k)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 'k', tenant, domain, selector) == -1) return -1;
  r = tbl_get(t, x, TABLE, key, kn, &v);
  if (r == 0 && decode(k, tenant, domain, selector, v.s, v.len) == -1) r = -1;
  buf_free(&v);
  return r;
}

static int put_key(struct tbl *t, struct tbl_txn *x, const struct dkimkey *k)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 'k', k->tenant, k->domain, k->selector) == -1) return -1;
  if (encode(&v, k) == -1) return -1;
  r = tbl_put(t, x, TABLE, key, kn, v.s, v.len);
  buf_free(&v);
  return r;
}

int dkimkey_actives(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                    char sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1], size_t *n)
{
  char key[KEY_MAX];
  size_t kn, i = 0;
  struct buf v = BUF_ZERO;
  int r;
  *n = 0;
  if (mkkey(key, &kn, 'a', tenant, domain, 0) == -1) return -1;
  r = tbl_get(t, x, TABLE, key, kn, &v);
  /* One selector, or several separated by NUL (no NUL after the last:
     a record of one selector is what older versions wrote). */
  while (r == 0 && i <= v.len) {
    const char *end = v.len > i ? memchr(v.s + i, 0, v.len - i) : 0;
    size_t l = end ? (size_t)(end - (v.s + i)) : v.len - i;
    if (l == 0 || l > DKIMKEY_SELECTOR_MAX || *n == DKIMKEY_ACTIVE_MAX) {
      r = (errno = EINVAL, -1);
      break;
    }
    memcpy(sel[*n], v.s + i, l);
    sel[(*n)++][l] = 0;
    i += l + 1;
  }
  if (r != 0) *n = 0;
  buf_free(&v);
  return r;
}

int dkimkey_active(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                   char *sel)
{
  char all[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
  size_t n;
  int r = dkimkey_actives(t, x, tenant, domain, all, &n);
  if (r == 0) memcpy(sel, all[0], strlen(all[0]) + 1);
  return r;
}

/* Run fn inside a transaction, again after a deadlock.  fn's result
   (>= 0) once committed, or -1. */
typedef int txn_fn(struct tbl *t, struct tbl_txn *x, void *ctx);
static int in_txn(struct tbl *t, txn_fn *fn, void *ctx)
{
  int tries, r;
  for (tries = 1;; tries++) {
    struct tbl_txn *x;
    if (tbl_begin(t, &x) == -1) return -1;
    r = fn(t, x, ctx);
    if (r >= 0) {
      if (tbl_commit(x) == 0) return r;
    } else {
      tbl_abort(x);
    }
    if (errno != EDEADLK || tries == TXN_TRIES) return -1;
  }
}

/* --- generation --- */

/* Append the base64 of p[0..n) to dst (size bytes).  0 or -1 EINVAL. */
static int b64(char *dst, size_t size, const unsigned char *p, size_t n)
{
  if (n > 4096 || (n + 2) / 3 * 4 + 1 > size) return errno = EINVAL, -1;
  EVP_EncodeBlock((unsigned char *)dst, p, (int)n);
  return 0;
}

/* New key pair into *pk; public key (p= value) into k->pub. */
static int make_pair(EVP_PKEY **pk, struct dkimkey *k)
{
  unsigned char raw[32], *der = 0;
  size_t rawn = sizeof raw;
  int dern, r = -1;
  if (k->alg == DKIMKEY_RSA)
    *pk = EVP_PKEY_Q_keygen(0, 0, "RSA", (size_t)k->bits);
  else
    *pk = EVP_PKEY_Q_keygen(0, 0, "ED25519");
  if (!*pk) return errno = ENOMEM, -1;
  if (k->alg == DKIMKEY_RSA) {
    /* RFC 6376 3.6.1: p= is the DER SubjectPublicKeyInfo for RSA. */
    dern = i2d_PUBKEY(*pk, &der);
    if (dern > 0) r = b64(k->pub, sizeof k->pub, der, (size_t)dern);
    OPENSSL_free(der);
  } else {
    /* RFC 8463 4.2: the raw 32-byte public key. */
    if (EVP_PKEY_get_raw_public_key(*pk, raw, &rawn) == 1)
      r = b64(k->pub, sizeof k->pub, raw, rawn);
  }
  if (r == -1) {
    EVP_PKEY_free(*pk);
    *pk = 0;
    return errno = ENOMEM, -1;
  }
  return 0;
}

/* Write the private key of pk to path, mode 0600: a temporary file,
   fsynced, then link()ed to its name, which never replaces a key that is
   there (EEXIST), then the directory fsynced. */
static int write_key(const char *path, const char *dir, EVP_PKEY *pk)
{
  char tmp[4096];
  BIO *bio;
  char *pem;
  long n;
  int fd, r = -1, e;
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return errno = ENAMETOOLONG, -1;
  if (!(bio = BIO_new(BIO_s_mem()))) return errno = ENOMEM, -1;
  if (PEM_write_bio_PrivateKey(bio, pk, 0, 0, 0, 0, 0) != 1
      || (n = BIO_get_mem_data(bio, &pem)) <= 0) {
    BIO_free(bio);
    return errno = ENOMEM, -1;
  }
  unlink(tmp);                      /* a leftover of an earlier crash of ours */
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd != -1) {
    if (write_all(fd, pem, (size_t)n) == 0 && fsync(fd) == 0 && close(fd) == 0) {
      fd = -1;
      if (link(tmp, path) == 0) r = fsync_dir(dir);
    }
    e = errno;
    if (fd != -1) close(fd);
    unlink(tmp);
    errno = e;
  }
  e = errno;
  OPENSSL_cleanse(pem, (size_t)n);
  BIO_free(bio);
  errno = e;
  return r;
}

/* Claim the DNS name (s record) and store the key; activate it when the
   domain has no active key.  1 if the selector is taken. */
static int gen_txn(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct dkimkey *k = ctx;
  char key[KEY_MAX], sel[DKIMKEY_SELECTOR_MAX + 1];
  size_t kn;
  int r;
  if (mkkey(key, &kn, 's', k->domain, k->selector, 0) == -1) return -1;
  r = tbl_add(t, x, TABLE, key, kn, k->tenant, strlen(k->tenant) + 1);
  if (r != 0) return r;
  r = dkimkey_active(t, x, k->tenant, k->domain, sel);
  if (r == -1) return -1;
  k->state = r == 1 ? DKIMKEY_ACTIVE : DKIMKEY_NEW;
  if (put_key(t, x, k) == -1) return -1;
  if (k->state == DKIMKEY_ACTIVE) {
    if (mkkey(key, &kn, 'a', k->tenant, k->domain, 0) == -1) return -1;
    if (tbl_put(t, x, TABLE, key, kn, k->selector, strlen(k->selector)) == -1) return -1;
  }
  return 0;
}

/* Is selector sel of domain free?  1 yes, 0 taken, -1 error. */
static int sel_free(struct tbl *t, const char *domain, const char *sel)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 's', domain, sel, 0) == -1) return -1;
  r = tbl_get(t, 0, TABLE, key, kn, &v);
  buf_free(&v);
  return r == -1 ? -1 : r == 1;
}

/* The default selector: cmcYYYYMMDD, then cmcYYYYMMDD-N, first free one. */
static int default_selector(struct tbl *t, const char *domain, long long now, char *sel)
{
  time_t tt = (time_t)now;
  struct tm tm;
  char day[16];
  int i, r;
  if (!gmtime_r(&tt, &tm) || strftime(day, sizeof day, "%Y%m%d", &tm) == 0)
    return errno = EINVAL, -1;
  for (i = 1; i <= SELECTOR_SERIAL_MAX; i++) {
    if (i == 1) snprintf(sel, DKIMKEY_SELECTOR_MAX + 1, "cmc%s", day);
    else snprintf(sel, DKIMKEY_SELECTOR_MAX + 1, "cmc%s-%d", day, i);
    if ((r = sel_free(t, domain, sel)) != 0) return r == 1 ? 0 : -1;
  }
  return errno = EEXIST, -1;
}

int dkimkey_gen(struct tbl *t, const char *keydir, const char *tenant, const char *domain,
                const char *selector, int alg, unsigned bits, struct dkimkey *k)
{
  char path[4096], dir[4096];
  EVP_PKEY *pk = 0;
  int r, e, tries;
  memset(k, 0, sizeof *k);
  if (!dkimkey_tenant_ok(tenant) || !dkimkey_domain_ok(domain)
      || (selector && !dkimkey_selector_ok(selector)))
    return errno = EINVAL, -1;
  if (alg == DKIMKEY_RSA) {
    if (bits == 0) bits = DKIMKEY_RSA_BITS;
    if (bits < 1024 || bits > 4096) return errno = EINVAL, -1;
  } else if (alg == DKIMKEY_ED25519) {
    bits = 256;
  } else {
    return errno = EINVAL, -1;
  }
  copy(k->tenant, sizeof k->tenant, tenant);
  copy(k->domain, sizeof k->domain, domain);
  k->alg = alg;
  k->bits = bits;
  k->created = k->changed = (long long)time(0);
  if (selector && (r = sel_free(t, domain, selector)) != 1) return r == 0 ? 1 : -1;
  if (make_pair(&pk, k) == -1) return -1;
  /* A default selector found free may be claimed by a concurrent keygen
     before our transaction: then take the next one. */
  for (tries = 0;; tries++) {
    if (selector) {
      copy(k->selector, sizeof k->selector, selector);
      if ((r = sel_free(t, domain, selector)) != 1) {
        EVP_PKEY_free(pk);
        return r == 0 ? 1 : -1;
      }
    } else if (default_selector(t, domain, k->created, k->selector) == -1) {
      goto fail;
    }
    if (snprintf(dir, sizeof dir, "%s/%s/%s", keydir, tenant, domain) >= (int)sizeof dir
        || dkimkey_path(path, sizeof path, keydir, tenant, domain, k->selector) == -1) {
      errno = ENAMETOOLONG;
      goto fail;
    }
    if (mkdir_p(dir, 0700) == -1) goto fail;
    /* The file first: a record never names a key that is not there.  An
       existing file (EEXIST) is never replaced. */
    if (write_key(path, dir, pk) == -1) goto fail;
    r = in_txn(t, gen_txn, k);
    if (r != 0) {
      e = errno;
      unlink(path);                 /* ours: link() made it just now */
      errno = e;
    }
    if (r == 1 && !selector && tries < SELECTOR_SERIAL_MAX) continue;
    EVP_PKEY_free(pk);
    return r;
  }
fail:
  e = errno;
  EVP_PKEY_free(pk);
  errno = e;
  return -1;
}

/* --- listing --- */

struct walk {
  const char *prefix;
  size_t prefixn;
  dkimkey_fn *fn;
  void *ctx;
  int stop;                         /* what fn returned to stop the walk */
  int bad;                          /* an undecodable record was met */
};

static int walk_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct walk *w = ctx;
  const char *f[4];
  struct dkimkey key;
  if (kn < w->prefixn || memcmp(k, w->prefix, w->prefixn)) return 1;  /* past the range */
  if (fields(k, kn, f, 4) != 4 || decode(&key, f[1], f[2], f[3], v, vn) == -1) {
    w->bad = 1;
    return 0;
  }
  w->stop = w->fn(w->ctx, &key);
  return w->stop ? 1 : 0;
}

int dkimkey_list(struct tbl *t, const char *tenant, const char *domain, dkimkey_fn *fn, void *ctx)
{
  char key[KEY_MAX];
  size_t kn;
  struct walk w;
  int r;
  if (domain && !tenant) return errno = EINVAL, -1;
  if (mkkey(key, &kn, 'k', tenant, tenant ? domain : 0, 0) == -1) return -1;
  w.prefix = key;
  w.prefixn = kn;
  w.fn = fn;
  w.ctx = ctx;
  w.stop = 0;
  w.bad = 0;
  r = tbl_walk(t, 0, TABLE, key, kn, 0, walk_one, &w);
  if (r == -1) return -1;
  if (w.stop) return w.stop > 0 ? w.stop : -1;
  if (w.bad) return errno = EINVAL, -1;
  return 0;
}

struct owner {
  const char *prefix;
  size_t prefixn;
  char *out;
  int found;
};

static int owner_one(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct owner *o = ctx;
  if (kn < o->prefixn || memcmp(k, o->prefix, o->prefixn)) return 1;
  if (vn == 0 || vn > DKIMKEY_TENANT_MAX + 1 || ((const char *)v)[vn - 1]) return 0;
  if (o->found && strcmp(o->out, v)) return 2;
  memcpy(o->out, v, vn);
  o->found = 1;
  return 0;
}

int dkimkey_owner(struct tbl *t, const char *domain, char *out)
{
  char key[KEY_MAX];
  size_t kn;
  struct owner o;
  int r;
  if (mkkey(key, &kn, 's', domain, 0, 0) == -1) return -1;
  o.prefix = key;
  o.prefixn = kn;
  o.out = out;
  o.found = 0;
  r = tbl_walk(t, 0, TABLE, key, kn, 0, owner_one, &o);
  if (r == -1 || r == 2) return r;
  return o.found ? 0 : 1;
}

/* --- state changes --- */

struct change {
  const char *tenant, *domain, *selector;
  int how;                          /* ACT_* */
};
#define ACT_SWITCH 0                /* dkimkey_activate */
#define ACT_PAIR 1                  /* dkimkey_activate_pair */
#define ACT_STOP 2                  /* dkimkey_deactivate */

/* Write the 'a' record: the n keys of k, RSA first. */
static int put_actives(struct tbl *t, struct tbl_txn *x, const char *tenant, const char *domain,
                       const struct dkimkey *k, size_t n)
{
  char key[KEY_MAX], v[DKIMKEY_ACTIVE_MAX * (DKIMKEY_SELECTOR_MAX + 1)];
  size_t kn, vn = 0, i;
  int alg;
  if (mkkey(key, &kn, 'a', tenant, domain, 0) == -1) return -1;
  if (n == 0) return tbl_del(t, x, TABLE, key, kn) == -1 ? -1 : 0;
  for (alg = DKIMKEY_RSA; alg <= DKIMKEY_ED25519; alg++)
    for (i = 0; i < n; i++) {
      size_t l = strlen(k[i].selector);
      if (k[i].alg != alg) continue;
      if (vn) v[vn++] = 0;
      memcpy(v + vn, k[i].selector, l);
      vn += l;
    }
  return tbl_put(t, x, TABLE, key, kn, v, vn);
}

static int activate_txn(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct change *c = ctx;
  struct dkimkey k, act[DKIMKEY_ACTIVE_MAX], keep[DKIMKEY_ACTIVE_MAX];
  char sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
  size_t n = 0, nkeep = 0, i;
  long long now = (long long)time(0);
  int r = dkimkey_get(t, x, c->tenant, c->domain, c->selector, &k), found = 0;
  if (r != 0) return r;
  if (k.state == DKIMKEY_RETIRED) return errno = EINVAL, -1;
  r = dkimkey_actives(t, x, c->tenant, c->domain, sel, &n);
  if (r == -1) return -1;
  for (i = 0; i < n; i++) {
    if (!strcmp(sel[i], c->selector)) found = 1;
    r = dkimkey_get(t, x, c->tenant, c->domain, sel[i], &act[i]);
    if (r == -1) return -1;
    if (r == 1) return errno = EIO, -1;      /* an active key without its record */
  }
  if (c->how == ACT_STOP) {
    if (!found || k.state != DKIMKEY_ACTIVE) return errno = EINVAL, -1;
    if (n == 1) return errno = EBUSY, -1;
  } else if (found && k.state == DKIMKEY_ACTIVE) {
    return 0;                       /* nothing to change */
  }
  /* What stays active beside k: the keys of the other algorithm when
     pairing, or when the domain signs with two keys already. */
  for (i = 0; i < n; i++) {
    int stays = c->how == ACT_STOP ? strcmp(act[i].selector, c->selector) != 0
                : (c->how == ACT_PAIR || n > 1) && act[i].alg != k.alg;
    if (stays) {
      keep[nkeep++] = act[i];
    } else if (strcmp(act[i].selector, c->selector)) {
      act[i].state = DKIMKEY_OLD;
      act[i].changed = now;
      if (put_key(t, x, &act[i]) == -1) return -1;
    }
  }
  k.state = c->how == ACT_STOP ? DKIMKEY_OLD : DKIMKEY_ACTIVE;
  k.changed = now;
  if (put_key(t, x, &k) == -1) return -1;
  if (c->how != ACT_STOP) keep[nkeep++] = k;
  return put_actives(t, x, c->tenant, c->domain, keep, nkeep);
}

int dkimkey_activate(struct tbl *t, const char *tenant, const char *domain, const char *selector)
{
  struct change c = { tenant, domain, selector, ACT_SWITCH };
  return in_txn(t, activate_txn, &c);
}

int dkimkey_activate_pair(struct tbl *t, const char *tenant, const char *domain,
                          const char *selector)
{
  struct change c = { tenant, domain, selector, ACT_PAIR };
  return in_txn(t, activate_txn, &c);
}

int dkimkey_deactivate(struct tbl *t, const char *tenant, const char *domain,
                       const char *selector)
{
  struct change c = { tenant, domain, selector, ACT_STOP };
  return in_txn(t, activate_txn, &c);
}

static int retire_txn(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct change *c = ctx;
  struct dkimkey k;
  int r = dkimkey_get(t, x, c->tenant, c->domain, c->selector, &k);
  if (r != 0) return r;
  if (k.state == DKIMKEY_ACTIVE) return errno = EBUSY, -1;
  if (k.state == DKIMKEY_RETIRED) return 0;
  k.state = DKIMKEY_RETIRED;
  k.changed = (long long)time(0);
  return put_key(t, x, &k);
}

int dkimkey_retire(struct tbl *t, const char *keydir, const char *tenant, const char *domain,
                   const char *selector)
{
  struct change c = { tenant, domain, selector, ACT_SWITCH };
  char path[4096];
  int r;
  if (dkimkey_path(path, sizeof path, keydir, tenant, domain, selector) == -1) return -1;
  r = in_txn(t, retire_txn, &c);
  if (r != 0) return r;
  /* After the commit: the signer never picks a retired key, so the file
     is of no use any more, and a private key not kept cannot leak. */
  if (unlink(path) == -1 && errno != ENOENT) return 2;
  return 0;
}

int dkimkey_record(const struct dkimkey *k, struct buf *name, struct buf *value)
{
  if (buf_printf(name, "%s._domainkey.%s", k->selector, k->domain) == -1) return -1;
  return buf_printf(value, "v=DKIM1; k=%s; p=%s", dkimkey_alg_name(k->alg), k->pub);
}

int dkimkey_policy_get(struct tbl *t, const char *tenant)
{
  char key[KEY_MAX];
  size_t kn;
  struct buf v = BUF_ZERO;
  int r;
  if (mkkey(key, &kn, 'p', tenant, 0, 0) == -1) return -1;
  r = tbl_get(t, 0, TABLE, key, kn, &v);
  if (r == 0) r = !(v.len == 7 && !memcmp(v.s, "require", 7));
  else if (r == 1) r = 1;
  buf_free(&v);
  return r;
}

int dkimkey_policy_set(struct tbl *t, const char *tenant, int allow_unsigned)
{
  char key[KEY_MAX];
  size_t kn;
  const char *v = allow_unsigned ? "allow" : "require";
  if (!dkimkey_tenant_ok(tenant)) return errno = EINVAL, -1;
  if (mkkey(key, &kn, 'p', tenant, 0, 0) == -1) return -1;
  return tbl_put(t, 0, TABLE, key, kn, v, strlen(v));
}
