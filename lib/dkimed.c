/* dkimed.c: ed25519-sha256 DKIM signatures with relaxed/relaxed
   canonicalisation (see dkimed.h).  RFC 6376 5.4-5.6 and RFC 8463 3: the
   body hash and the header hash are SHA-256; the signature is PureEdDSA
   (Ed25519) over the 32-byte header hash. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "dkim.h"
#include "dkimed.h"

#define LINE_WIDTH 76             /* fold the field's lines near here */
#define FLUSH 16384               /* canonical bytes hashed at a time */

static int is_wsp(char c)
{
  return c == ' ' || c == '\t';
}

int dkimed_canon_field(const char *f, size_t fn, struct buf *out)
{
  const char *colon = memchr(f, ':', fn);
  size_t i, nl;
  int space = 0, any = 0;
  if (!colon) return errno = EINVAL, -1;
  /* Name: lowercase, no white space before the colon. */
  for (nl = (size_t)(colon - f); nl > 0 && is_wsp(f[nl - 1]); nl--) ;
  if (buf_ready(out, fn + 2) == -1) return -1;
  for (i = 0; i < nl; i++) {
    char c = f[i];
    out->s[out->len++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  out->s[out->len++] = ':';
  /* Value: unfolded, runs of white space one space, none at either end. */
  for (i = (size_t)(colon - f) + 1; i < fn; i++) {
    char c = f[i];
    if (c == '\n' || (c == '\r' && i + 1 < fn && f[i + 1] == '\n')) continue;
    if (is_wsp(c)) {
      space = 1;
      continue;
    }
    if (space && any) out->s[out->len++] = ' ';
    space = 0;
    any = 1;
    out->s[out->len++] = c;
  }
  out->s[out->len] = 0;
  return buf_add(out, "\r\n", 2);
}

/* Canonical body, fed to fn in pieces (a digest, or a buffer). */
typedef int sink_fn(void *ctx, const char *p, size_t n);

static int canon_body(const char *body, size_t bn, sink_fn *fn, void *ctx)
{
  struct buf line = BUF_ZERO;
  size_t i = 0, empties = 0;
  int r = 0;
  while (i < bn && r == 0) {
    const char *lf = memchr(body + i, '\n', bn - i);
    size_t end = lf ? (size_t)(lf - body) : bn, j;
    int space = 0;
    if (lf && end > i && body[end - 1] == '\r') end--;
    buf_trunc(&line, 0);
    if (buf_ready(&line, end - i + 2) == -1) {
      r = -1;
      break;
    }
    /* White space runs become one space; none at the end of the line. */
    for (j = i; j < end; j++) {
      if (is_wsp(body[j])) {
        space = 1;
        continue;
      }
      if (space) line.s[line.len++] = ' ';
      space = 0;
      line.s[line.len++] = body[j];
    }
    i = lf ? (size_t)(lf - body) + 1 : bn;
    if (line.len == 0) {
      empties++;                  /* kept back: empty lines at the end go */
      continue;
    }
    for (; empties > 0 && r == 0; empties--) r = fn(ctx, "\r\n", 2);
    line.s[line.len++] = '\r';
    line.s[line.len++] = '\n';
    if (r == 0) r = fn(ctx, line.s, line.len);
  }
  buf_free(&line);
  return r;
}

static int to_buf(void *ctx, const char *p, size_t n)
{
  return buf_add(ctx, p, n);
}

int dkimed_canon_body(const char *body, size_t bn, struct buf *out)
{
  return canon_body(body, bn, to_buf, out);
}

struct hasher {
  EVP_MD_CTX *md;
  struct buf pend;                /* small pieces gathered before hashing */
};

static int to_hash(void *ctx, const char *p, size_t n)
{
  struct hasher *h = ctx;
  if (h->pend.len + n > FLUSH) {
    if (EVP_DigestUpdate(h->md, h->pend.s, h->pend.len) != 1) return errno = EINVAL, -1;
    buf_trunc(&h->pend, 0);
    if (n > FLUSH) return EVP_DigestUpdate(h->md, p, n) == 1 ? 0 : (errno = EINVAL, -1);
  }
  return buf_add(&h->pend, p, n);
}

static int b64(struct buf *out, const unsigned char *p, size_t n)
{
  if (buf_ready(out, (n + 2) / 3 * 4 + 1) == -1) return -1;
  out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->s + out->len, p, (int)n);
  out->s[out->len] = 0;
  return 0;
}

struct field {
  const char *p;
  size_t n, namelen;
  int used;
};

static size_t name_len(const char *f, size_t fn)
{
  const char *colon = memchr(f, ':', fn);
  size_t nl;
  if (!colon) return 0;
  for (nl = (size_t)(colon - f); nl > 0 && is_wsp(f[nl - 1]); nl--) ;
  return nl;
}

static int listed(const char *const *list, const char *name, size_t nl)
{
  for (; *list; list++)
    if (strlen(*list) == nl && !strncasecmp(*list, name, nl)) return 1;
  return 0;
}

/* Append word to the field text in fb, after sep, folding the line first
   when asked (fold) or when it would pass LINE_WIDTH.  *col is the current
   column.  The layout is libopendkim's: s= t=, bh=, h=, b= each on a line. */
static int put(struct buf *fb, size_t *col, const char *sep, const char *word, size_t wn, int fold)
{
  size_t sl = strlen(sep);
  if (fold || (*col + sl + wn > LINE_WIDTH && *col > 1)) {
    /* A separator's trailing space becomes the fold: same canonical form. */
    if (sl && sep[sl - 1] == ' ') sl--;
    if (buf_add(fb, sep, sl) == -1 || buf_add(fb, "\r\n\t", 3) == -1) return -1;
    *col = 1;
  } else {
    if (buf_add(fb, sep, sl) == -1) return -1;
    *col += sl;
  }
  if (buf_add(fb, word, wn) == -1) return -1;
  *col += wn;
  return 0;
}

int dkimed_sign(EVP_PKEY *key, const char *domain, const char *selector, long long now,
                const char *const *sign, const char *const *oversign,
                const char *head, size_t hn, const char *body, size_t bn, struct buf *sig)
{
  struct hasher h = { 0, BUF_ZERO };
  struct buf fields = BUF_ZERO, fb = BUF_ZERO, hl = BUF_ZERO, tmp = BUF_ZERO;
  struct field *fv;
  unsigned char bh[EVP_MAX_MD_SIZE], hh[EVP_MAX_MD_SIZE], sg[64];
  unsigned int bhn, hhn;
  size_t nf = 0, pos = 0, i, k, col, fn, sgn = sizeof sg, start = sig->len;
  const char *f, *const *o;
  EVP_MD_CTX *sc = 0;
  int r = -1;
  char num[32];

  if (!(h.md = EVP_MD_CTX_new())) return errno = ENOMEM, -1;
  /* The fields, and the h= list: signed ones top-down, as written. */
  while (dkim_field_next(head, hn, &pos, &f, &fn)) {
    struct field one;
    one.p = f;
    one.n = fn;
    one.namelen = name_len(f, fn);
    one.used = 0;
    if (buf_add(&fields, &one, sizeof one) == -1) goto out;
    nf++;
    if (one.namelen && listed(sign, f, one.namelen)) {
      if ((hl.len && buf_addc(&hl, ':') == -1) || buf_add(&hl, f, one.namelen) == -1) goto out;
    }
  }
  for (o = oversign; *o; o++)
    if ((hl.len && buf_addc(&hl, ':') == -1) || buf_adds(&hl, *o) == -1) goto out;
  fv = (struct field *)fields.s;
  if (hl.len == 0) goto inval;

  /* Body hash. */
  if (EVP_DigestInit_ex(h.md, EVP_sha256(), 0) != 1) goto crypto;
  if (canon_body(body, bn, to_hash, &h) == -1) goto out;
  if (EVP_DigestUpdate(h.md, h.pend.s ? h.pend.s : "", h.pend.len) != 1
      || EVP_DigestFinal_ex(h.md, bh, &bhn) != 1)
    goto crypto;

  /* The field with an empty b=, folded as it will be sent. */
  if (buf_adds(&fb, DKIM_FIELD_NAME ": v=1; a=ed25519-sha256; c=relaxed/relaxed;") == -1) goto out;
  col = fb.len;
  buf_trunc(&tmp, 0);
  if (buf_printf(&tmp, "d=%s;", domain) == -1 || put(&fb, &col, " ", tmp.s, tmp.len, 0) == -1)
    goto out;
  buf_trunc(&tmp, 0);
  if (buf_printf(&tmp, "s=%s;", selector) == -1 || put(&fb, &col, " ", tmp.s, tmp.len, 1) == -1)
    goto out;
  snprintf(num, sizeof num, "t=%lld;", now);
  if (put(&fb, &col, " ", num, strlen(num), 0) == -1) goto out;
  buf_trunc(&tmp, 0);
  if (buf_adds(&tmp, "bh=") == -1 || b64(&tmp, bh, bhn) == -1 || buf_addc(&tmp, ';') == -1
      || put(&fb, &col, " ", tmp.s, tmp.len, 1) == -1)
    goto out;
  /* h=: the names, folded after a colon when the line is full. */
  for (i = 0, k = 0; i <= hl.len; i++) {
    if (i < hl.len && hl.s[i] != ':') continue;
    if (k == 0) {
      buf_trunc(&tmp, 0);
      if (buf_adds(&tmp, "h=") == -1 || buf_add(&tmp, hl.s, i) == -1
          || put(&fb, &col, " ", tmp.s, tmp.len, 1) == -1)
        goto out;
    } else if (put(&fb, &col, ":", hl.s + k, i - k, 0) == -1) {
      goto out;
    }
    k = i + 1;
  }
  if (put(&fb, &col, "; ", "b=", 2, 1) == -1) goto out;

  /* Header hash: each h= name takes the last unused field of that name. */
  if (EVP_DigestInit_ex(h.md, EVP_sha256(), 0) != 1) goto crypto;
  buf_trunc(&h.pend, 0);
  for (i = 0, k = 0; i <= hl.len; i++) {
    size_t nl, j;
    if (i < hl.len && hl.s[i] != ':') continue;
    nl = i - k;
    for (j = nf; j > 0; j--) {
      struct field *x = &fv[j - 1];
      if (!x->used && x->namelen == nl && !strncasecmp(x->p, hl.s + k, nl)) {
        x->used = 1;
        buf_trunc(&tmp, 0);
        if (dkimed_canon_field(x->p, x->n, &tmp) == -1 || to_hash(&h, tmp.s, tmp.len) == -1)
          goto out;
        break;
      }
    }
    k = i + 1;
  }
  buf_trunc(&tmp, 0);
  if (dkimed_canon_field(fb.s, fb.len, &tmp) == -1) goto out;
  tmp.len -= 2;                   /* the signature field goes in without its CRLF */
  if (to_hash(&h, tmp.s, tmp.len) == -1) goto out;
  if (EVP_DigestUpdate(h.md, h.pend.s ? h.pend.s : "", h.pend.len) != 1
      || EVP_DigestFinal_ex(h.md, hh, &hhn) != 1)
    goto crypto;

  /* RFC 8463 3: PureEdDSA over the SHA-256 header hash. */
  if (!(sc = EVP_MD_CTX_new())) goto nomem;
  if (EVP_DigestSignInit(sc, 0, 0, 0, key) != 1 || EVP_DigestSign(sc, sg, &sgn, hh, hhn) != 1)
    goto crypto;

  /* Out: the field, b= folded (white space in b= is ignored). */
  if (buf_add(sig, fb.s, fb.len) == -1) goto out;
  buf_trunc(&tmp, 0);
  if (b64(&tmp, sg, sgn) == -1) goto out;
  for (i = 0; i < tmp.len;) {
    size_t room = col < LINE_WIDTH ? LINE_WIDTH - col : 0, take;
    if (room == 0) {
      if (buf_add(sig, "\r\n\t ", 4) == -1) goto out;
      col = 2;
      continue;
    }
    take = tmp.len - i < room ? tmp.len - i : room;
    if (buf_add(sig, tmp.s + i, take) == -1) goto out;
    i += take;
    col += take;
  }
  if (buf_add(sig, "\r\n", 2) == -1) goto out;
  r = 0;
  goto out;
inval:
  errno = EINVAL;
  goto out;
nomem:
  errno = ENOMEM;
  goto out;
crypto:
  ERR_clear_error();              /* not left for the caller's TLS code to find */
  errno = EINVAL;
out:
  if (r == -1) buf_trunc(sig, start);
  EVP_MD_CTX_free(h.md);
  EVP_MD_CTX_free(sc);
  buf_free(&h.pend);
  buf_free(&fields);
  buf_free(&fb);
  buf_free(&hl);
  buf_free(&tmp);
  return r;
}
