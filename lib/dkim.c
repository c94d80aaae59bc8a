/* dkim.c: DKIM signing (see dkim.h, doc/dkim.md).  For RSA, libopendkim
   does the canonicalisation, the hashes, the signature and the field's
   text; Ed25519 goes to dkimed.c (why: dkimed.h).  This file picks the key
   (tables of dkimkey.h, key files cached in memory), checks the header
   section, feeds the message in CRLF form and maps every outcome to
   signed / unsigned / permanent / temporary.  Nothing here prints, exits
   or reads the environment. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <idn2.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <opendkim/dkim.h>
#include "dkim.h"
#include "dkimed.h"
#include "dkimkey.h"

#define BUCKETS 1024              /* key cache hash table */
#define DETAIL_MAX 512
#define FROM_MAX 4096             /* bytes of an unfolded From value looked at */

/* Signed when present.  From is required by RFC 6376 and libopendkim. */
static const char *const signhdrs[] = {
  "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
  "in-reply-to", "references", "mime-version", "content-type",
  "content-transfer-encoding", "content-id", "content-description",
  "content-disposition", "list-unsubscribe", "list-unsubscribe-post", 0
};
/* Named once more in h= than it occurs, so that no second From can be
   added on the way without breaking the signature (RFC 6376 8.15). */
static const char *const oversignhdrs[] = { "from", 0 };

struct key_ent {
  struct key_ent *next;
  char *id;                       /* tenant \0 domain \0 selector \0 */
  size_t idn;
  int alg;                        /* enum dkimkey_alg */
  char *pem;                      /* the key file, NUL-ended (libopendkim's input) */
  size_t pemn;
  EVP_PKEY *pkey;                 /* Ed25519: parsed once, for dkimed_sign */
};

/* What dkim_signer_prepare found for a tenant and From domain. */
struct prep_ent {
  struct prep_ent *next;
  char *id;                       /* tenant \0 domain \0 */
  size_t idn;
  int rc;                         /* enum dkim_rc */
  size_t nsel;                    /* DKIM_RC_SIGNED: the active keys, in signing order */
  int alg[DKIMKEY_ACTIVE_MAX];
  char sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
  char *detail;
};

struct dkim_signer {
  DKIM_LIB *lib;
  struct tbl *t;                  /* 0: prepared mode, no table is read */
  struct prep_ent *prep[BUCKETS];
  size_t nprep;
  char *keydir;
  struct key_ent *bucket[BUCKETS];
  size_t nkeys;
  struct buf field, domain;       /* scratch, kept between calls */
  char detail[DETAIL_MAX];
};

static void detail(struct dkim_signer *s, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static void detail(struct dkim_signer *s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof s->detail, fmt, ap);
  va_end(ap);
}

const char *dkim_signer_detail(const struct dkim_signer *s)
{
  return s->detail;
}

int dkim_signer_open(struct dkim_signer **sp, struct tbl *t, const char *keydir)
{
  struct dkim_signer *s;
  unsigned int flags = DKIM_LIBFLAGS_NONE;
  *sp = 0;
  s = calloc(1, sizeof *s);
  if (!s) return errno = ENOMEM, -1;
  s->t = t;
  s->keydir = strdup(keydir);
  s->lib = dkim_init(0, 0);
  if (!s->keydir || !s->lib
      || dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK
      || dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)signhdrs,
                      sizeof(char **)) != DKIM_STAT_OK
      || dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversignhdrs,
                      sizeof(char **)) != DKIM_STAT_OK) {
    dkim_signer_close(s);
    return errno = ENOMEM, -1;
  }
  snprintf(s->detail, sizeof s->detail, "nothing signed yet");
  *sp = s;
  return 0;
}

static void ent_free(struct key_ent *e)
{
  EVP_PKEY_free(e->pkey);
  OPENSSL_cleanse(e->pem, e->pemn);
  free(e->pem);
  free(e->id);
  free(e);
}

static void cache_flush(struct dkim_signer *s)
{
  size_t i;
  for (i = 0; i < BUCKETS; i++)
    while (s->bucket[i]) {
      struct key_ent *e = s->bucket[i];
      s->bucket[i] = e->next;
      ent_free(e);
    }
  s->nkeys = 0;
}

static void prep_flush(struct dkim_signer *s)
{
  size_t i;
  for (i = 0; i < BUCKETS; i++)
    while (s->prep[i]) {
      struct prep_ent *e = s->prep[i];
      s->prep[i] = e->next;
      free(e->detail);
      free(e->id);
      free(e);
    }
  s->nprep = 0;
}

void dkim_signer_close(struct dkim_signer *s)
{
  if (!s) return;
  cache_flush(s);
  prep_flush(s);
  if (s->lib) dkim_close(s->lib);
  buf_free(&s->field);
  buf_free(&s->domain);
  free(s->keydir);
  free(s);
}

/* --- the header section --- */

/* Length of the header section of msg[0..n) including the empty line
   that ends it (all of msg if there is none). */
static size_t head_len(const char *msg, size_t n)
{
  size_t i = 0;
  while (i < n) {
    const char *lf = memchr(msg + i, '\n', n - i);
    size_t len = lf ? (size_t)(lf - (msg + i)) : n - i;
    if (len == 0 || (len == 1 && msg[i] == '\r')) return i + len + (lf != 0);
    if (!lf) return n;
    i += len + 1;
  }
  return n;
}

int dkim_field_next(const char *h, size_t hn, size_t *pos, const char **f, size_t *fn)
{
  size_t i = *pos, start = i, end;
  if (i >= hn || h[i] == '\n' || (h[i] == '\r' && i + 1 < hn && h[i + 1] == '\n')) return 0;
  for (;;) {
    const char *lf = memchr(h + i, '\n', hn - i);
    if (!lf) {
      end = hn;
      i = hn;
      break;
    }
    end = (size_t)(lf - h);
    i = end + 1;
    if (i >= hn || (h[i] != ' ' && h[i] != '\t')) break;
  }
  if (end > start && h[end - 1] == '\r' && end < hn) end--;
  *f = h + start;
  *fn = end - start;
  *pos = i;
  return 1;
}

/* 1 if field f[0..fn) is named name (case-insensitive). */
static int field_is(const char *f, size_t fn, const char *name)
{
  size_t l = strlen(name), i;
  if (fn < l || strncasecmp(f, name, l)) return 0;
  for (i = l; i < fn && (f[i] == ' ' || f[i] == '\t'); i++) ;
  return i < fn && f[i] == ':';
}

int dkim_from_domain(const char *head, size_t hn, struct buf *out)
{
  const char *f = 0, *g;
  size_t fn = 0, gn, pos = 0, i;
  char v[FROM_MAX + 1];
  size_t vn = 0;
  unsigned char *user = 0, *dom = 0;
  char *ace = 0;
  int nfrom = 0, r;
  while (dkim_field_next(head, hn, &pos, &g, &gn))
    if (field_is(g, gn, "from")) {
      f = g;
      fn = gn;
      nfrom++;
    }
  if (nfrom != 1) return errno = EINVAL, -1;
  i = (size_t)((const char *)memchr(f, ':', fn) - f) + 1;
  for (; i < fn && vn < FROM_MAX; i++)     /* unfolded */
    if (f[i] != '\r' && f[i] != '\n') v[vn++] = f[i] ? f[i] : ' ';
  v[vn] = 0;
  if (dkim_mail_parse((unsigned char *)v, &user, &dom) != 0 || !dom || !*dom)
    return errno = EINVAL, -1;
  vn = strlen((char *)dom);
  while (vn > 0 && dom[vn - 1] == '.') dom[--vn] = 0;
  for (i = 0; i < vn; i++) {
    if (dom[i] >= 0x80) break;
    if (dom[i] >= 'A' && dom[i] <= 'Z') dom[i] = (unsigned char)(dom[i] - 'A' + 'a');
  }
  if (i < vn) {
    /* An internationalised domain: DKIM's d= is its A-label form. */
    if (idn2_lookup_u8(dom, (uint8_t **)&ace, IDN2_NONTRANSITIONAL) != IDN2_OK)
      return errno = EINVAL, -1;
    dom = (unsigned char *)ace;
  }
  if (dkimkey_domain_ok((char *)dom)) r = buf_set(out, dom, strlen((char *)dom));
  else r = (errno = EINVAL, -1);
  idn2_free(ace);
  return r;
}

/* --- keys --- */

static size_t hash(const char *p, size_t n)
{
  uint32_t h = 2166136261u;       /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h % BUCKETS;
}

/* Read the key file of tenant/domain/selector into a new entry.  alg:
   the key's algorithm, or 0 to read it from the table. */
static int key_load(struct dkim_signer *s, const char *tenant, const char *domain,
                    const char *sel, int alg, struct key_ent **ep)
{
  char path[4096];
  struct dkimkey k;
  struct stat st;
  struct key_ent *e;
  BIO *bio;
  ssize_t r;
  int fd, got;
  *ep = 0;
  k.alg = alg;
  got = alg ? 0 : dkimkey_get(s->t, 0, tenant, domain, sel, &k);
  if (got != 0) {
    if (got == -1) detail(s, "key for %s selector %s: unable to read its record in table dkim: %s",
                          domain, sel, strerror(errno));
    else detail(s, "key for %s selector %s: no record in table dkim", domain, sel);
    return -1;
  }
  if (dkimkey_path(path, sizeof path, s->keydir, tenant, domain, sel) == -1) {
    detail(s, "key for %s selector %s: path too long", domain, sel);
    return -1;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1) {
    detail(s, "key for %s selector %s unreadable: unable to open %s: %s", domain, sel, path,
           strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || (st.st_mode & 077)
      || st.st_size <= 0 || st.st_size > DKIMKEY_FILE_MAX) {
    /* A key others can read is treated as a key we do not have: it may
       have been copied already, and the operator must look at it. */
    detail(s, "key for %s selector %s unusable: %s is not a private regular file of 1..%d bytes"
           " (mode 0600)", domain, sel, path, DKIMKEY_FILE_MAX);
    close(fd);
    return -1;
  }
  e = calloc(1, sizeof *e);
  if (!e || !(e->pem = malloc((size_t)st.st_size + 1))
      || !(e->id = malloc(strlen(tenant) + strlen(domain) + strlen(sel) + 3))) {
    if (e) {
      free(e->pem);
      free(e);
    }
    close(fd);
    detail(s, "out of memory");
    return -1;
  }
  e->idn = (size_t)snprintf(e->id, strlen(tenant) + strlen(domain) + strlen(sel) + 3,
                            "%s%c%s%c%s", tenant, 0, domain, 0, sel) + 1;
  while ((r = read(fd, e->pem + e->pemn, (size_t)st.st_size - e->pemn)) > 0)
    if ((e->pemn += (size_t)r) == (size_t)st.st_size) break;
  close(fd);
  if (r == -1 || e->pemn != (size_t)st.st_size) {
    detail(s, "key for %s selector %s unreadable: unable to read %s: %s", domain, sel, path,
           r == -1 ? strerror(errno) : "short read");
    ent_free(e);
    return -1;
  }
  e->pem[e->pemn] = 0;
  e->alg = k.alg;
  /* Parsed once here, so that a bad file is named now, and Ed25519 keys
     are ready for every signature to come. */
  bio = BIO_new_mem_buf(e->pem, (int)e->pemn);
  e->pkey = bio ? PEM_read_bio_PrivateKey(bio, 0, 0, 0) : 0;
  BIO_free(bio);
  if (!e->pkey || EVP_PKEY_get_id(e->pkey)
                      != (k.alg == DKIMKEY_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA)) {
    detail(s, "key for %s selector %s unusable: %s does not parse as an %s private key", domain,
           sel, path, dkimkey_alg_name(k.alg));
    ERR_clear_error();            /* not left for the TLS code of the caller to find */
    ent_free(e);
    return -1;
  }
  if (k.alg != DKIMKEY_ED25519) {
    EVP_PKEY_free(e->pkey);       /* libopendkim reads the PEM text itself */
    e->pkey = 0;
  }
  *ep = e;
  return 0;
}

/* The cached key of tenant/domain/selector, read on first use. */
static int key_find(struct dkim_signer *s, const char *tenant, const char *domain,
                    const char *sel, int alg, struct key_ent **ep)
{
  char id[DKIMKEY_TENANT_MAX + DKIMKEY_DOMAIN_MAX + DKIMKEY_SELECTOR_MAX + 3];
  int idn = snprintf(id, sizeof id, "%s%c%s%c%s", tenant, 0, domain, 0, sel);
  struct key_ent *e;
  size_t h;
  if (idn < 0 || (size_t)idn >= sizeof id) {
    detail(s, "name too long");
    return -1;
  }
  h = hash(id, (size_t)idn + 1);
  for (e = s->bucket[h]; e; e = e->next)
    if (e->idn == (size_t)idn + 1 && !memcmp(e->id, id, e->idn)) {
      *ep = e;
      return 0;
    }
  if (key_load(s, tenant, domain, sel, alg, &e) == -1) return -1;
  if (s->nkeys >= DKIM_CACHE_MAX) cache_flush(s);
  e->next = s->bucket[h];
  s->bucket[h] = e;
  s->nkeys++;
  *ep = e;
  return 0;
}

static void key_drop(struct dkim_signer *s, struct key_ent *e)
{
  struct key_ent **pp = &s->bucket[hash(e->id, e->idn)];
  for (; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      ent_free(e);
      s->nkeys--;
      return;
    }
}

/* --- signing --- */

/* Feed p[0..n) to libopendkim with each bare LF made CRLF; prev is the
   byte before p (0 if none). */
static DKIM_STAT feed_body(DKIM *d, const char *p, size_t n)
{
  size_t start = 0;
  DKIM_STAT st;
  while (start < n) {
    const char *lf = memchr(p + start, '\n', n - start);
    size_t i;
    if (!lf) break;
    i = (size_t)(lf - p);
    if (i > 0 && p[i - 1] == '\r') {
      if ((st = dkim_body(d, (unsigned char *)p + start, i + 1 - start)) != DKIM_STAT_OK)
        return st;
    } else {
      if (i > start && (st = dkim_body(d, (unsigned char *)p + start, i - start)) != DKIM_STAT_OK)
        return st;
      if ((st = dkim_body(d, (unsigned char *)"\r\n", 2)) != DKIM_STAT_OK) return st;
    }
    start = i + 1;
  }
  if (start < n) return dkim_body(d, (unsigned char *)p + start, n - start);
  return DKIM_STAT_OK;
}

/* Field f with each bare LF made CRLF, into b. */
static int crlf(struct buf *b, const char *f, size_t fn)
{
  size_t i;
  buf_trunc(b, 0);
  if (buf_ready(b, fn + fn / 8 + 2) == -1) return -1;
  for (i = 0; i < fn; i++) {
    if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r') && buf_addc(b, '\r') == -1) return -1;
    if (buf_addc(b, f[i]) == -1) return -1;
  }
  return 0;
}

/* 1 if every field of h[0..hn) is a name (printable ASCII but colon)
   then a colon, as RFC 5322 2.2 wants; else 0, *bad the field. */
static int head_ok(const char *h, size_t hn, const char **bad, size_t *badn)
{
  const char *f;
  size_t fn, pos = 0, i;
  while (dkim_field_next(h, hn, &pos, &f, &fn)) {
    for (i = 0; i < fn && f[i] != ':' && f[i] > 32 && f[i] < 127; i++) ;
    while (i < fn && (f[i] == ' ' || f[i] == '\t')) i++;   /* "Name :" is read as "Name:" */
    if (i == 0 || i == fn || f[i] != ':') {
      *bad = f;
      *badn = fn;
      return 0;
    }
  }
  return 1;
}

static int sign_with(struct dkim_signer *s, struct key_ent *e, const char *domain,
                     const char *sel, const char *head, size_t hn, const char *body,
                     size_t bn, struct buf *sig)
{
  DKIM *d;
  DKIM_STAT st;
  const char *f, *what = "sign";
  size_t fn, pos = 0, len, i, start = sig->len;
  unsigned char *hv;
  int rc = DKIM_RC_TEMP;
  dkim_alg_t alg = DKIM_SIGN_RSASHA256;
  if (e->alg == DKIMKEY_ED25519) {
    if (dkimed_sign(e->pkey, domain, sel, (long long)time(0), signhdrs, oversignhdrs,
                    head, hn, body, bn, sig) == -1) {
      detail(s, "Ed25519 signature failed: %s", strerror(errno));
      return DKIM_RC_TEMP;
    }
    detail(s, "d=%s s=%s a=ed25519-sha256", domain, sel);
    return DKIM_RC_SIGNED;
  }
  d = dkim_sign(s->lib, (const unsigned char *)"cmc", 0, (dkim_sigkey_t)e->pem,
                (const unsigned char *)sel, (const unsigned char *)domain,
                DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg, -1, &st);
  if (!d) {
    detail(s, "libopendkim: dkim_sign: status %d", (int)st);
    return DKIM_RC_TEMP;
  }
  while (dkim_field_next(head, hn, &pos, &f, &fn)) {
    if (crlf(&s->field, f, fn) == -1) {
      detail(s, "out of memory");
      goto done;
    }
    st = dkim_header(d, (unsigned char *)s->field.s, s->field.len);
    if (st != DKIM_STAT_OK) {
      what = "malformed header field";
      goto fail;
    }
  }
  what = "header section";
  if ((st = dkim_eoh(d)) != DKIM_STAT_OK) goto fail;
  what = "body";
  if ((st = feed_body(d, body, bn)) != DKIM_STAT_OK) goto fail;
  what = "signature";
  if ((st = dkim_eom(d, 0)) != DKIM_STAT_OK) goto fail;
  st = dkim_getsighdr_d(d, sizeof DKIM_FIELD_NAME + 1, &hv, &len);
  if (st != DKIM_STAT_OK) goto fail;
  /* libopendkim folds with bare LF: the spool and the wire want CRLF. */
  if (buf_adds(sig, DKIM_FIELD_NAME ": ") == -1) goto nomem;
  for (i = 0; i < len; i++) {
    if (hv[i] == '\n' && (i == 0 || hv[i - 1] != '\r') && buf_addc(sig, '\r') == -1) goto nomem;
    if (buf_addc(sig, (char)hv[i]) == -1) goto nomem;
  }
  if (buf_add(sig, "\r\n", 2) == -1) goto nomem;
  detail(s, "d=%s s=%s a=rsa-sha256", domain, sel);
  rc = DKIM_RC_SIGNED;
  goto done;
nomem:
  buf_trunc(sig, start);
  detail(s, "out of memory");
  goto done;
fail:
  /* What the message did wrong is permanent; what the library or the
     key lacked (resources, a key that does not parse) may pass. */
  rc = st == DKIM_STAT_SYNTAX ? DKIM_RC_PERM : DKIM_RC_TEMP;
  detail(s, "libopendkim: %s: %s (status %d)", what,
         dkim_geterror(d) ? dkim_geterror(d) : "failed", (int)st);
done:
  dkim_free(d);
  return rc;
}

/* Sign with each of the n keys sel[] of tenant and domain (alg[]: their
   algorithms, or 0 to read them from the table), one field per key
   appended to sig, in that order: every key signs, or sig is left as it
   was.  A key whose signing fails is dropped from the cache, so that its
   file is read again next time. */
static int sign_all(struct dkim_signer *s, const char *tenant, const char *domain, size_t n,
                    char sel[][DKIMKEY_SELECTOR_MAX + 1], const int *alg, const char *head,
                    size_t hn, const char *body, size_t bn, struct buf *sig)
{
  char done[DETAIL_MAX];
  size_t start = sig->len, i, l = 0;
  int rc = DKIM_RC_SIGNED;
  for (i = 0; i < n && rc == DKIM_RC_SIGNED; i++) {
    struct key_ent *e;
    if (key_find(s, tenant, domain, sel[i], alg ? alg[i] : 0, &e) == -1) {
      rc = DKIM_RC_TEMP;
      break;
    }
    rc = sign_with(s, e, domain, sel[i], head, hn, body, bn, sig);
    if (rc == DKIM_RC_TEMP) key_drop(s, e);
    if (rc == DKIM_RC_SIGNED) {
      /* "d=D s=S a=A", and "; d=D s=S2 a=A2" for a second signature. */
      size_t dl = strlen(s->detail);
      if (l && l + 2 < sizeof done) {
        memcpy(done + l, "; ", 2);
        l += 2;
      }
      if (dl > sizeof done - 1 - l) dl = sizeof done - 1 - l;
      memcpy(done + l, s->detail, dl);
      l += dl;
    }
  }
  if (rc != DKIM_RC_SIGNED) {
    buf_trunc(sig, start);
    return rc;
  }
  done[l] = 0;
  memcpy(s->detail, done, l + 1);
  return rc;
}

/* --- prepared mode: tables read before a fork (dkim.h) --- */

static struct prep_ent *prep_find(struct dkim_signer *s, const char *id, size_t idn)
{
  struct prep_ent *e;
  for (e = s->prep[hash(id, idn)]; e; e = e->next)
    if (e->idn == idn && !memcmp(e->id, id, idn)) return e;
  return 0;
}

/* Remember rc (and the n keys sel[], alg[]) with the current detail for
   tenant/domain. */
static int prep_put(struct dkim_signer *s, const char *tenant, const char *domain, int rc,
                    size_t n, char sel[][DKIMKEY_SELECTOR_MAX + 1], const int *alg)
{
  char id[DKIMKEY_TENANT_MAX + DKIMKEY_DOMAIN_MAX + 2];
  int idn = snprintf(id, sizeof id, "%s%c%s", tenant, 0, domain);
  struct prep_ent *e;
  size_t i;
  char *d;
  if (idn < 0 || (size_t)idn >= sizeof id) return errno = EINVAL, -1;
  if (!(d = strdup(s->detail))) return errno = ENOMEM, -1;
  e = prep_find(s, id, (size_t)idn + 1);
  if (!e) {
    size_t h = hash(id, (size_t)idn + 1);
    if (s->nprep >= DKIM_PREP_MAX) prep_flush(s);
    if (!(e = calloc(1, sizeof *e)) || !(e->id = malloc((size_t)idn + 1))) {
      free(e);
      free(d);
      return errno = ENOMEM, -1;
    }
    memcpy(e->id, id, (size_t)idn + 1);
    e->idn = (size_t)idn + 1;
    e->next = s->prep[h];
    s->prep[h] = e;
    s->nprep++;
  }
  free(e->detail);
  e->detail = d;
  e->rc = rc;
  e->nsel = n;
  for (i = 0; i < n; i++) {
    e->alg[i] = alg[i];
    memcpy(e->sel[i], sel[i], sizeof e->sel[i]);
  }
  return 0;
}

void dkim_signer_unprepare(struct dkim_signer *s)
{
  prep_flush(s);
}

/* No active key for tenant's domain: the tenant's policy.  Unsigned mail
   allowed: DKIM_RC_UNSIGNED; required: DKIM_RC_TEMP, so that the mail
   waits for a key (an operator's omission, which a key put right,
   rather than a fault of the message). */
static int no_key(struct dkim_signer *s, struct tbl *t, const char *tenant, const char *domain)
{
  int r = dkimkey_policy_get(t, tenant);
  if (r == -1) {
    detail(s, "unable to read table dkim: %s", strerror(errno));
    return DKIM_RC_TEMP;
  }
  detail(s, "no DKIM key for %s of tenant %s%s", *domain ? domain : "mail without a From domain",
         tenant, r ? "" : ", and the tenant requires signing");
  return r ? DKIM_RC_UNSIGNED : DKIM_RC_TEMP;
}

int dkim_signer_prepare(struct dkim_signer *s, struct tbl *t, const char *tenant,
                        const char *domain)
{
  char sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
  int alg[DKIMKEY_ACTIVE_MAX];
  struct dkimkey k;
  struct key_ent *e;
  size_t n = 0, i;
  int r, rc = DKIM_RC_TEMP;
  if (!dkimkey_tenant_ok(tenant) || (*domain && !dkimkey_domain_ok(domain))) {
    detail(s, "bad tenant or domain name");
    return DKIM_RC_PERM;
  }
  r = *domain ? dkimkey_actives(t, 0, tenant, domain, sel, &n) : 1;
  if (r == -1) {
    detail(s, "unable to read table dkim: %s", strerror(errno));
  } else if (r == 1) {
    rc = no_key(s, t, tenant, domain);
  } else {
    /* The keys are read now, in this process, so that a missing or broken
       file defers the mail here; a process forked later finds them cached.
       Every active key must be usable: a domain that signs twice is not
       sent with one signature. */
    for (i = 0; i < n; i++) {
      if ((r = dkimkey_get(t, 0, tenant, domain, sel[i], &k)) != 0) {
        if (r == 1) detail(s, "key for %s selector %s: no record in table dkim", domain, sel[i]);
        else detail(s, "key for %s selector %s: unable to read its record in table dkim: %s",
                    domain, sel[i], strerror(errno));
        break;
      }
      if (key_find(s, tenant, domain, sel[i], k.alg, &e) == -1) break;
      alg[i] = k.alg;
    }
    if (i == n) {
      detail(s, "d=%s s=%s%s%s ready", domain, sel[0], n > 1 ? "," : "", n > 1 ? sel[1] : "");
      rc = DKIM_RC_SIGNED;
    }
  }
  if (prep_put(s, tenant, domain, rc, rc == DKIM_RC_SIGNED ? n : 0, sel, alg) == -1) {
    detail(s, "out of memory");
    return DKIM_RC_TEMP;
  }
  return rc;
}

/* Sign with what dkim_signer_prepare found for tenant and domain. */
static int sign_prepared(struct dkim_signer *s, const char *tenant, const char *domain,
                         const char *head, size_t hn, const char *body, size_t bn, struct buf *sig)
{
  char id[DKIMKEY_TENANT_MAX + DKIMKEY_DOMAIN_MAX + 2];
  int idn = snprintf(id, sizeof id, "%s%c%s", tenant, 0, domain);
  struct prep_ent *p;
  const char *bad;
  size_t badn;
  if (idn < 0 || (size_t)idn >= sizeof id || !(p = prep_find(s, id, (size_t)idn + 1))) {
    /* The caller's From and ours differ: a later attempt, prepared
       again, may agree; never sent unsigned. */
    detail(s, "DKIM for %s of tenant %s was not prepared", *domain ? domain : "no From domain", tenant);
    return DKIM_RC_TEMP;
  }
  if (p->rc != DKIM_RC_SIGNED) {
    snprintf(s->detail, sizeof s->detail, "%s", p->detail ? p->detail : "?");
    return p->rc;
  }
  if (!head_ok(head, hn, &bad, &badn)) {
    detail(s, "malformed header field (%zu bytes at offset %zu): no name and colon", badn,
           (size_t)(bad - head));
    return DKIM_RC_PERM;
  }
  return sign_all(s, tenant, domain, p->nsel, p->sel, p->alg, head, hn, body, bn, sig);
}

int dkim_signer_sign2(struct dkim_signer *s, const char *tenant, const char *head, size_t hn,
                      const char *body, size_t bn, struct buf *sig)
{
  char owner[DKIMKEY_TENANT_MAX + 1], sel[DKIMKEY_ACTIVE_MAX][DKIMKEY_SELECTOR_MAX + 1];
  const char *domain, *bad;
  size_t badn, n;
  int r;
  if (hn > DKIM_HEAD_MAX) {
    detail(s, "header section over %d bytes", DKIM_HEAD_MAX);
    return DKIM_RC_PERM;
  }
  if (tenant && !dkimkey_tenant_ok(tenant)) {
    detail(s, "bad tenant name");
    return DKIM_RC_PERM;
  }
  if (dkim_from_domain(head, hn, &s->domain) == -1) {
    if (errno == ENOMEM) {
      detail(s, "out of memory");
      return DKIM_RC_TEMP;
    }
    /* Prepared mode: the tenant's policy for mail without a From domain. */
    if (!s->t && tenant && buf_set(&s->domain, "", 0) == 0)
      return sign_prepared(s, tenant, "", head, hn, body, bn, sig);
    detail(s, "no single From field with a valid domain");
    return DKIM_RC_PERM;
  }
  domain = s->domain.s;
  if (!s->t && tenant) return sign_prepared(s, tenant, domain, head, hn, body, bn, sig);
  if (!head_ok(head, hn, &bad, &badn)) {
    detail(s, "malformed header field (%zu bytes at offset %zu): no name and colon", badn,
           (size_t)(bad - head));
    return DKIM_RC_PERM;
  }
  if (!tenant) {
    r = dkimkey_owner(s->t, domain, owner);
    if (r == -1) {
      detail(s, "unable to read table dkim: %s", strerror(errno));
      return DKIM_RC_TEMP;
    }
    if (r == 2) {
      detail(s, "keys for %s belong to several tenants: name the tenant", domain);
      return DKIM_RC_PERM;
    }
    if (r == 1) {
      detail(s, "no DKIM key for %s", domain);
      return DKIM_RC_UNSIGNED;
    }
    tenant = owner;
  }
  r = dkimkey_actives(s->t, 0, tenant, domain, sel, &n);
  if (r == -1) {
    detail(s, "unable to read table dkim: %s", strerror(errno));
    return DKIM_RC_TEMP;
  }
  if (r == 1) return no_key(s, s->t, tenant, domain);
  return sign_all(s, tenant, domain, n, sel, 0, head, hn, body, bn, sig);
}

int dkim_signer_sign(struct dkim_signer *s, const char *tenant, const char *msg, size_t n,
                     struct buf *sig)
{
  size_t hn = head_len(msg, n);
  return dkim_signer_sign2(s, tenant, msg, hn, msg + hn, n - hn, sig);
}
