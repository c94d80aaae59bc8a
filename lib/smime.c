/* smime.c: the S/MIME signer (see smime.h, doc/smime.md): what signs
   which From address (prepared with the tables, kept in memory), the
   credentials read from keys/smime (cached), the multipart/signed
   message built around the MIME part, and OpenSSL's CMS for the
   signature.  Nothing here prints, exits or reads the environment. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include "dqhdr.h"
#include "smime.h"
#include "smimecert.h"
#include "smimeenc.h"
#include "smimereg.h"

#define BUCKETS 256
#define DETAIL_MAX 512
#define BOUNDARY_BYTES 16

struct cred_ent {                 /* a credential file, read */
  struct cred_ent *next;
  char *id;                       /* tenant \0 fp \0 */
  size_t idn;
  struct smimecert c;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
};

struct prep_ent {                 /* what prepare found */
  struct prep_ent *next;
  char *id;                       /* 'f' \0 tenant \0 from \0, or 'r' \0 tenant \0 domain \0 */
  size_t idn;
  int rc;                         /* smime_rc; for 'r': 1 skipped, 0 not */
  char fp[65];
  char *detail;
};

struct smime_signer {
  char *keydir;
  struct cred_ent *cred[BUCKETS];
  struct prep_ent *prep[BUCKETS];
  size_t ncred, nprep;
  /* The last signature: its input (credential id, entity) and result. */
  struct buf last_id, last_in, last_ct, last_body;
  struct buf ent, ent7, outer, tmp, from;   /* scratch, kept between calls */
  struct buf result;              /* the last signed message */
  char detail[DETAIL_MAX];
};

static void detail(struct smime_signer *s, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));
static void detail(struct smime_signer *s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof s->detail, fmt, ap);
  va_end(ap);
}

const char *smime_signer_detail(const struct smime_signer *s)
{
  return s->detail;
}

int smime_signer_open(struct smime_signer **sp, const char *keydir)
{
  struct smime_signer *s = calloc(1, sizeof *s);
  *sp = 0;
  if (!s || !(s->keydir = strdup(keydir))) {
    free(s);
    return errno = ENOMEM, -1;
  }
  snprintf(s->detail, sizeof s->detail, "nothing signed yet");
  *sp = s;
  return 0;
}

static void cred_flush(struct smime_signer *s)
{
  size_t i;
  for (i = 0; i < BUCKETS; i++)
    while (s->cred[i]) {
      struct cred_ent *e = s->cred[i];
      s->cred[i] = e->next;
      smimecert_free(&e->c);
      free(e->id);
      free(e);
    }
  s->ncred = 0;
  buf_trunc(&s->last_id, 0);      /* the last signature names a credential */
}

static void prep_flush(struct smime_signer *s)
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

void smime_signer_unprepare(struct smime_signer *s)
{
  prep_flush(s);
}

void smime_signer_close(struct smime_signer *s)
{
  if (!s) return;
  cred_flush(s);
  prep_flush(s);
  buf_free(&s->last_id);
  buf_free(&s->last_in);
  buf_free(&s->last_ct);
  buf_free(&s->last_body);
  buf_free(&s->ent);
  buf_free(&s->ent7);
  buf_free(&s->outer);
  buf_free(&s->tmp);
  buf_free(&s->from);
  buf_free(&s->result);
  free(s->keydir);
  free(s);
}

static size_t hash(const char *p, size_t n)
{
  uint32_t h = 2166136261u;       /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h % BUCKETS;
}

/* id = a \0 b \0 c \0 (c may be 0) into b; 0 or -1. */
static int mkid(struct buf *id, const char *a, const char *b, const char *c)
{
  buf_trunc(id, 0);
  return buf_addz(id, a) == -1 || buf_addz(id, b) == -1 || (c && buf_addz(id, c) == -1) ? -1 : 0;
}

/* --- preparations --- */

static struct prep_ent *prep_find(struct smime_signer *s, const struct buf *id)
{
  struct prep_ent *e;
  for (e = s->prep[hash(id->s, id->len)]; e; e = e->next)
    if (e->idn == id->len && !memcmp(e->id, id->s, id->len)) return e;
  return 0;
}

/* Remember rc, fp and the current detail under id.  0 or -1 ENOMEM. */
static int prep_put(struct smime_signer *s, const struct buf *id, int rc, const char *fp)
{
  struct prep_ent *e = prep_find(s, id);
  char *d = strdup(s->detail);
  if (!d) return errno = ENOMEM, -1;
  if (!e) {
    size_t h = hash(id->s, id->len);
    if (s->nprep >= SMIME_PREP_MAX) prep_flush(s);
    if (!(e = calloc(1, sizeof *e)) || !(e->id = malloc(id->len))) {
      free(e);
      free(d);
      return errno = ENOMEM, -1;
    }
    memcpy(e->id, id->s, id->len);
    e->idn = id->len;
    e->next = s->prep[h];
    s->prep[h] = e;
    s->nprep++;
  }
  free(e->detail);
  e->detail = d;
  e->rc = rc;
  snprintf(e->fp, sizeof e->fp, "%s", fp ? fp : "");
  return 0;
}

/* --- credentials --- */

static struct cred_ent *cred_find(struct smime_signer *s, const struct buf *id)
{
  struct cred_ent *e;
  for (e = s->cred[hash(id->s, id->len)]; e; e = e->next)
    if (e->idn == id->len && !memcmp(e->id, id->s, id->len)) return e;
  return 0;
}

static void cred_drop(struct smime_signer *s, struct cred_ent *d)
{
  struct cred_ent **pp = &s->cred[hash(d->id, d->idn)];
  for (; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      smimecert_free(&d->c);
      free(d->id);
      free(d);
      s->ncred--;
      buf_trunc(&s->last_id, 0);
      return;
    }
}

/* The credential of tenant and fp: cached, read again when its file
   changed (a certificate registered again with another chain), or read
   now.  With check, the file is looked at (stat) even when cached.
   0, or -1 with the reason in detail. */
static int cred_get(struct smime_signer *s, const char *tenant, const char *fp, int check,
                    struct cred_ent **ep)
{
  char path[4096];
  struct buf id = BUF_ZERO, why = BUF_ZERO;
  struct cred_ent *e;
  struct smimecert_info in;
  struct stat st;
  int r = -1;
  if (mkid(&id, tenant, fp, 0) == -1) goto nomem;
  if (smimereg_path(path, sizeof path, s->keydir, tenant, fp) == -1) {
    detail(s, "credential path too long");
    goto out;
  }
  e = cred_find(s, &id);
  if (e && !check) {
    *ep = e;
    r = 0;
    goto out;
  }
  if (stat(path, &st) == -1) {
    if (e) cred_drop(s, e);
    detail(s, "unable to open the S/MIME credential %s: %s", path, strerror(errno));
    goto out;
  }
  if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size
      && e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
    *ep = e;
    r = 0;
    goto out;
  }
  if (e) cred_drop(s, e);
  if (!(e = calloc(1, sizeof *e)) || !(e->id = malloc(id.len))) {
    free(e);
    goto nomem;
  }
  memcpy(e->id, id.s, id.len);
  e->idn = id.len;
  r = smimecert_load(&e->c, path, &why);
  if (r == 0 && (smimecert_info(&e->c, &in) == -1 || strcmp(in.fp, fp))) {
    smimecert_free(&e->c);
    r = 1;
    buf_printf(&why, "the certificate in %s is not the one registered", path);
  }
  if (r != 0) {
    if (r == -1) detail(s, "out of memory");
    else detail(s, "unusable S/MIME credential: %s", why.s ? why.s : "?");
    free(e->id);
    free(e);
    r = -1;
    goto out;
  }
  /* The file as it was when read (it is replaced, never rewritten in place). */
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = st.st_size;
  e->mtime = st.st_mtim;
  if (s->ncred >= SMIME_CACHE_MAX) cred_flush(s);
  e->next = s->cred[hash(id.s, id.len)];
  s->cred[hash(id.s, id.len)] = e;
  s->ncred++;
  *ep = e;
  goto out;
nomem:
  detail(s, "out of memory");
  r = -1;
out:
  buf_free(&id);
  buf_free(&why);
  return r;
}

int smime_signer_prepare(struct smime_signer *s, struct tbl *t, const char *tenant,
                         const char *from, long long now)
{
  struct buf id = BUF_ZERO, why = BUF_ZERO;
  struct smimereg_ent e;
  struct cred_ent *ce;
  const char *fp = 0;
  int r, rc;
  if (smimereg_target(from, &s->from) == -1) {
    if (errno == ENOMEM) goto nomem;
    detail(s, "no S/MIME: the From address is not usable");
    rc = SMIME_RC_UNSIGNED;
    buf_set(&s->from, from, strlen(from));
    goto put;
  }
  r = smimereg_match(t, tenant, s->from.s, &e);
  if (r == -1) {
    detail(s, "unable to read table smime: %s", strerror(errno));
    rc = SMIME_RC_TEMP;
  } else if (r == 1) {
    detail(s, "no S/MIME certificate for %s", s->from.s);
    rc = SMIME_RC_UNSIGNED;
  } else if (cred_get(s, tenant, e.i.fp, 1, &ce) == -1) {
    rc = SMIME_RC_TEMP;
  } else if (smimecert_valid(&ce->c, now, &why) != 0) {
    detail(s, "S/MIME certificate of %s for %s: %s", tenant, e.target, why.s ? why.s : "?");
    rc = SMIME_RC_TEMP;
  } else {
    detail(s, "S/MIME certificate of %s for %s ready", tenant, e.target);
    rc = SMIME_RC_SIGNED;
    fp = e.i.fp;
  }
put:
  if (mkid(&id, "f", tenant, s->from.s) == -1 || prep_put(s, &id, rc, fp) == -1) goto nomem;
  buf_free(&id);
  buf_free(&why);
  return rc;
nomem:
  buf_free(&id);
  buf_free(&why);
  detail(s, "out of memory");
  return SMIME_RC_TEMP;
}

int smime_signer_prepare_rcpt(struct smime_signer *s, struct tbl *t, const char *tenant,
                              const char *rcpt_domain)
{
  struct buf id = BUF_ZERO;
  int r = smimereg_skip_get(t, tenant, rcpt_domain);
  if (r == -1) return -1;
  if (mkid(&id, "r", tenant, rcpt_domain) == -1 || prep_put(s, &id, r, 0) == -1) r = -1;
  buf_free(&id);
  return r;
}

/* --- the message --- */

/* p[0..n) with each bare LF made CRLF, appended to out. */
static int crlf(struct buf *out, const char *p, size_t n)
{
  size_t i, start = 0;
  if (buf_ready(out, n + n / 16 + 2) == -1) return -1;
  for (i = 0; i < n; i++)
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
      if (buf_add(out, p + start, i - start) == -1 || buf_add(out, "\r\n", 2) == -1) return -1;
      start = i + 1;
    }
  return buf_add(out, p + start, n - start);
}

/* Length of the fields of header section h[0..hn), without the empty
   line that may end it. */
static size_t fields_len(const char *h, size_t hn)
{
  size_t i = 0;
  while (i < hn) {
    const char *lf;
    if (h[i] == '\n' || (h[i] == '\r' && i + 1 < hn && h[i + 1] == '\n')) return i;
    if (!(lf = memchr(h + i, '\n', hn - i))) return hn;
    i = (size_t)(lf - h) + 1;
  }
  return hn;
}

static int name_is(const char *f, size_t fn, const char *name)
{
  size_t l = strlen(name), i;
  if (fn < l || strncasecmp(f, name, l)) return 0;
  for (i = l; i < fn && (f[i] == ' ' || f[i] == '\t'); i++) ;
  return i < fn && f[i] == ':';
}

/* Split the CRLF header h[0..hn) (no empty line) into the Content-*
   fields (to ent) and the others but MIME-Version (to outer). */
static int split_head(const char *h, size_t hn, struct buf *ent, struct buf *outer)
{
  size_t i = 0;
  while (i < hn) {
    size_t start = i;
    const char *lf;
    for (;;) {
      lf = memchr(h + i, '\n', hn - i);
      i = lf ? (size_t)(lf - h) + 1 : hn;
      if (i >= hn || (h[i] != ' ' && h[i] != '\t')) break;
    }
    if (name_is(h + start, i - start, "mime-version")) continue;
    if (i - start >= 8 && !strncasecmp(h + start, "content-", 8)) {
      if (buf_add(ent, h + start, i - start) == -1) return -1;
    } else if (buf_add(outer, h + start, i - start) == -1) {
      return -1;
    }
  }
  return 0;
}

static int cms_sign(struct smime_signer *s, const struct smimecert *c, const char *p, size_t n,
                    struct buf *der)
{
  unsigned int fl = CMS_DETACHED | CMS_BINARY;
  CMS_ContentInfo *cms;
  BIO *in;
  unsigned char *d = 0;
  int i, dn, r = -1;
  if (n > INT_MAX) {
    detail(s, "MIME part too big to sign");
    return -1;
  }
  if (!(in = BIO_new_mem_buf(p, (int)n))) goto fail;
  cms = CMS_sign(0, 0, 0, 0, fl | CMS_PARTIAL);
  if (!cms || !CMS_add1_signer(cms, c->cert, c->key, EVP_sha256(), 0)) goto fail_cms;
  for (i = 0; i < sk_X509_num(c->chain); i++)
    if (!CMS_add1_cert(cms, sk_X509_value(c->chain, i))) goto fail_cms;
  if (!CMS_final(cms, in, 0, fl)) goto fail_cms;
  dn = i2d_CMS_ContentInfo(cms, &d);
  if (dn <= 0 || buf_set(der, d, (size_t)dn) == -1) goto fail_cms;
  r = 0;
fail_cms:
  OPENSSL_free(d);
  CMS_ContentInfo_free(cms);
  BIO_free(in);
fail:
  if (r == -1) {
    unsigned long e = ERR_peek_last_error();
    char t[200];
    ERR_error_string_n(e, t, sizeof t);
    detail(s, "CMS signature failed: %s", e ? t : "out of memory");
  }
  ERR_clear_error();
  return r;
}

/* The multipart/signed body around entity e[0..n) and its signature in
   DER; the Content-Type field (CRLF-ended) into ct. */
static int build(struct smime_signer *s, const char *e, size_t n, const struct buf *der,
                 struct buf *ct, struct buf *body)
{
  unsigned char rnd[BOUNDARY_BYTES];
  char b[64];
  size_t i, tries;
  for (tries = 0;; tries++) {
    if (RAND_bytes(rnd, sizeof rnd) != 1 || tries == 8) {
      detail(s, "no random boundary");
      return -1;
    }
    memcpy(b, "----=_cmc_smime_", 16);
    for (i = 0; i < sizeof rnd; i++) snprintf(b + 16 + 2 * i, 3, "%02x", rnd[i]);
    /* A boundary found in the part would end it early. */
    for (i = 0; i + strlen(b) <= n; i++)
      if (e[i] == '-' && !memcmp(e + i, b, strlen(b))) break;
    if (i + strlen(b) > n) break;
  }
  buf_trunc(ct, 0);
  buf_trunc(body, 0);
  if (buf_printf(ct, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
                     "\tmicalg=sha-256; boundary=\"%s\"\r\n", b) == -1
      || buf_printf(body, "This is an S/MIME signed message.\r\n\r\n--%s\r\n", b) == -1
      || buf_add(body, e, n) == -1
      || buf_printf(body, "\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
                          "Content-Transfer-Encoding: base64\r\n"
                          "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
                          "Content-Description: S/MIME Cryptographic Signature\r\n\r\n", b) == -1
      || smimeenc_b64(der->s, der->len, body) == -1
      || buf_printf(body, "\r\n--%s--\r\n", b) == -1) {
    detail(s, "out of memory");
    return -1;
  }
  return 0;
}

int smime_signer_sign(struct smime_signer *s, const char *tenant, const char *from,
                      const char *rcpt_domain, const char *head, size_t hn,
                      const char *body, size_t bn, const char **outp, size_t *outn,
                      size_t *outhn)
{
  struct buf *out = &s->result;
  struct buf id = BUF_ZERO, der = BUF_ZERO;
  struct prep_ent *p;
  struct cred_ent *ce;
  unsigned changed = 0;
  int rc = SMIME_RC_TEMP;
  if (hn > SMIME_HEAD_MAX) {
    detail(s, "header section over %d bytes", SMIME_HEAD_MAX);
    return SMIME_RC_PERM;
  }
  if (smimereg_target(from, &s->from) == -1 && (errno == ENOMEM || buf_set(&s->from, from, strlen(from)) == -1))
    goto nomem;
  if (mkid(&id, "f", tenant, s->from.s) == -1) goto nomem;
  if (!(p = prep_find(s, &id))) {
    /* The caller's From and ours differ: a later attempt, prepared
       again, may agree; never sent unsigned. */
    detail(s, "S/MIME for %s of tenant %s was not prepared", s->from.s, tenant);
    rc = SMIME_RC_TEMP;
    goto out;
  }
  if (p->rc != SMIME_RC_SIGNED) {
    snprintf(s->detail, sizeof s->detail, "%s", p->detail ? p->detail : "?");
    rc = p->rc;
    goto out;
  }
  if (rcpt_domain) {
    struct prep_ent *q;
    if (mkid(&id, "r", tenant, rcpt_domain) == -1) goto nomem;
    if ((q = prep_find(s, &id)) && q->rc == 1) {
      detail(s, "no S/MIME for mail of %s to %s", tenant, rcpt_domain);
      rc = SMIME_RC_UNSIGNED;
      goto out;
    }
  }
  if (cred_get(s, tenant, p->fp, 0, &ce) == -1) goto out;
  /* The MIME part: Content-* fields, empty line, body; CRLF. */
  buf_trunc(&s->ent, 0);
  buf_trunc(&s->outer, 0);
  buf_trunc(&s->tmp, 0);
  if (crlf(&s->tmp, head, fields_len(head, hn)) == -1) goto nomem;
  if (s->tmp.len && (s->tmp.len < 2 || memcmp(s->tmp.s + s->tmp.len - 2, "\r\n", 2))
      && buf_add(&s->tmp, "\r\n", 2) == -1)
    goto nomem;
  if (split_head(s->tmp.s ? s->tmp.s : "", s->tmp.len, &s->ent, &s->outer) == -1
      || buf_add(&s->ent, "\r\n", 2) == -1 || crlf(&s->ent, body, bn) == -1)
    goto nomem;
  if (mkid(&id, tenant, p->fp, 0) == -1) goto nomem;
  if (!(s->last_id.len == id.len && !memcmp(s->last_id.s, id.s, id.len)
        && s->last_in.len == s->ent.len && !memcmp(s->last_in.s, s->ent.s, s->ent.len))) {
    buf_trunc(&s->last_id, 0);
    buf_trunc(&s->ent7, 0);
    if (smimeenc_entity(s->ent.s, s->ent.len, &s->ent7, &changed) == -1) goto nomem;
    if (cms_sign(s, &ce->c, s->ent7.s, s->ent7.len, &der) == -1) goto out;
    if (build(s, s->ent7.s, s->ent7.len, &der, &s->last_ct, &s->last_body) == -1) goto out;
    if (buf_set(&s->last_in, s->ent.s, s->ent.len) == -1 || buf_set(&s->last_id, id.s, id.len) == -1) {
      buf_trunc(&s->last_id, 0);
      goto nomem;
    }
  }
  buf_trunc(out, 0);
  if (buf_add(out, s->outer.s ? s->outer.s : "", s->outer.len) == -1
      || buf_adds(out, "MIME-Version: 1.0\r\n") == -1
      || buf_add(out, s->last_ct.s, s->last_ct.len) == -1 || buf_add(out, "\r\n", 2) == -1)
    goto nomem;
  *outhn = out->len;
  if (buf_add(out, s->last_body.s, s->last_body.len) == -1) goto nomem;
  *outp = out->s;
  *outn = out->len;
  detail(s, "smime=%s fp=%.16s%s", tenant, p->fp, changed ? " re-encoded to 7bit" : "");
  rc = SMIME_RC_SIGNED;
  goto out;
nomem:
  detail(s, "out of memory");
  rc = SMIME_RC_TEMP;
out:
  buf_free(&id);
  buf_free(&der);
  return rc;
}

int smime_from(const char *h, size_t hn, struct buf *out)
{
  struct buf v = BUF_ZERO, a = BUF_ZERO;
  int r = dqhdr_field(h, hn, "from", &v);
  if (r == 1) {
    r = dqhdr_addr(v.s, v.len, &a);
    if (r == 0 && a.len) r = smimereg_target(a.s, out);
    else if (r == 0) r = (errno = EINVAL, -1);
  } else if (r == 0) {
    r = (errno = EINVAL, -1);
  }
  buf_free(&v);
  buf_free(&a);
  return r;
}
