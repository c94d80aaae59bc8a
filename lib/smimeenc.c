/* smimeenc.c: 7-bit transfer encodings for the S/MIME signer (see
   smimeenc.h).  Content-Type values are read with bounce_mime.h's
   mime_type and mime_param; the encodings are written here (base64 by
   OpenSSL's EVP_EncodeBlock). */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include "bounce_mime.h"
#include "smimeenc.h"

#define QP_LINE 76

int smimeenc_is7bit(const char *p, size_t n)
{
  size_t i, col = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\r') {
      if (i + 1 >= n || p[i + 1] != '\n') return 0;
      i++;
      col = 0;
      continue;
    }
    if (c == '\n' || c == 0 || c > 127) return 0;
    if (++col > SMIMEENC_LINE_MAX) return 0;
  }
  return 1;
}

static const char hex[] = "0123456789ABCDEF";

int smimeenc_qp(const char *p, size_t n, struct buf *out)
{
  size_t i, col = 0;
  if (buf_ready(out, n + n / 4 + 16) == -1) return -1;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    char t[3];
    size_t tn = 1;
    int eol;
    if (c == '\r' && i + 1 < n && p[i + 1] == '\n') {
      if (buf_add(out, "\r\n", 2) == -1) return -1;
      i++;
      col = 0;
      continue;
    }
    eol = i + 1 == n || (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n');
    t[0] = (char)c;
    /* Literal: printable ASCII but '=', and space or tab unless at the end
       of a line; a line starting "From " is encoded so that no mbox
       writer on the way adds a '>' to it. */
    if (!((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol))
        || (col == 0 && c == 'F' && n - i >= 5 && !memcmp(p + i, "From ", 5))
        || (col == 0 && c == '.')) {
      t[0] = '=';
      t[1] = hex[c >> 4];
      t[2] = hex[c & 15];
      tn = 3;
    }
    /* Room for the token and, unless the line ends after it, a '='. */
    if (col + tn > QP_LINE - (eol ? 0 : 1)) {
      if (buf_add(out, "=\r\n", 3) == -1) return -1;
      col = 0;
    }
    if (buf_add(out, t, tn) == -1) return -1;
    col += tn;
  }
  return 0;
}

int smimeenc_b64(const char *p, size_t n, struct buf *out)
{
  size_t i;
  if (buf_ready(out, n / 57 * 78 + 80) == -1) return -1;
  for (i = 0; i < n; i += 57) {
    size_t l = n - i < 57 ? n - i : 57;
    int w = EVP_EncodeBlock((unsigned char *)out->s + out->len, (const unsigned char *)p + i, (int)l);
    out->len += (size_t)w;
    out->s[out->len++] = '\r';
    out->s[out->len++] = '\n';
    out->s[out->len] = 0;
  }
  return 0;
}

/* Offset of the body of entity e[0..n): after the empty line ending the
   header fields (n if there is none). */
static size_t head_end(const char *e, size_t n)
{
  size_t i = 0;
  while (i < n) {
    const char *lf = memchr(e + i, '\n', n - i);
    size_t len;
    if (!lf) return n;
    len = (size_t)(lf - (e + i));
    if (len == 0 || (len == 1 && e[i] == '\r')) return (size_t)(lf - e) + 1;
    i = (size_t)(lf - e) + 1;
  }
  return n;
}

/* The next field of header h[0..hn) at *pos: [*f, *f + *fn) with its
   final CRLF.  1, or 0 at the end. */
static int field(const char *h, size_t hn, size_t *pos, const char **f, size_t *fn)
{
  size_t i = *pos, start = i;
  if (i >= hn || h[i] == '\r' || h[i] == '\n') return 0;
  for (;;) {
    const char *lf = memchr(h + i, '\n', hn - i);
    if (!lf) { i = hn; break; }
    i = (size_t)(lf - h) + 1;
    if (i >= hn || (h[i] != ' ' && h[i] != '\t')) break;
  }
  *f = h + start;
  *fn = i - start;
  *pos = i;
  return 1;
}

/* The value of field f[0..fn) if it is named name: 1 (*v, *vn), else 0. */
static int field_value(const char *f, size_t fn, const char *name, const char **v, size_t *vn)
{
  size_t l = strlen(name), i;
  if (fn <= l || strncasecmp(f, name, l)) return 0;
  for (i = l; i < fn && (f[i] == ' ' || f[i] == '\t'); i++) ;
  if (i >= fn || f[i] != ':') return 0;
  *v = f + i + 1;
  *vn = fn - i - 1;
  return 1;
}

/* The encoding token of a Content-Transfer-Encoding value, lowercased. */
static void cte_token(char *out, size_t n, const char *v, size_t vn)
{
  size_t i = 0, o = 0;
  while (i < vn && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')) i++;
  while (i < vn && v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n'
         && v[i] != ';' && v[i] != '(' && o + 1 < n) {
    char c = v[i++];
    out[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
  }
  out[o] = 0;
}

static int transform(const char *e, size_t n, int depth, struct buf *out, unsigned *changed);

/* The header h[0..hn) (without its empty line) with its
   Content-Transfer-Encoding fields replaced by one saying cte. */
static int put_head(struct buf *out, const char *h, size_t hn, const char *cte)
{
  const char *f, *v;
  size_t fn, vn, pos = 0;
  while (field(h, hn, &pos, &f, &fn))
    if (!field_value(f, fn, "content-transfer-encoding", &v, &vn) && buf_add(out, f, fn) == -1)
      return -1;
  return buf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
}

/* Is the line p[ls..le) a delimiter of boundary b?  1 yes, 2 the close
   delimiter, 0 no (RFC 2046 5.1.1: white space may follow). */
static int delimiter(const char *p, size_t ls, size_t le, const char *b, size_t bl)
{
  size_t i = ls + 2 + bl;
  int close = 0;
  if (le - ls < 2 + bl || p[ls] != '-' || p[ls + 1] != '-' || memcmp(p + ls + 2, b, bl)) return 0;
  if (le - i >= 2 && p[i] == '-' && p[i + 1] == '-') {
    close = 1;
    i += 2;
  }
  for (; i < le; i++) if (p[i] != ' ' && p[i] != '\t') return 0;
  return close ? 2 : 1;
}

/* Body p[0..n) of a multipart with boundary b: each part transformed,
   everything else copied.  1 done, 0 no delimiter found (nothing added). */
static int multipart(const char *p, size_t n, const char *b, int depth, struct buf *out,
                     unsigned *changed)
{
  size_t ls = 0, c = 0, part = 0, bl = strlen(b), start = out->len;
  int inpart = 0, found = 0;
  while (ls < n) {
    const char *lf = memchr(p + ls, '\n', n - ls);
    size_t next = lf ? (size_t)(lf - p) + 1 : n, le = next;
    int d;
    if (lf && le > ls && p[le - 1] == '\n') le--;
    if (le > ls && p[le - 1] == '\r') le--;
    d = delimiter(p, ls, le, b, bl);
    if (d) {
      found = 1;
      if (inpart) {
        size_t ce = ls >= part + 2 && p[ls - 2] == '\r' && p[ls - 1] == '\n' ? ls - 2 : ls;
        if (transform(p + part, ce - part, depth + 1, out, changed) == -1) return -1;
        c = ce;
      }
      if (buf_add(out, p + c, next - c) == -1) return -1;
      c = next;
      if (d == 2) {
        if (buf_add(out, p + c, n - c) == -1) return -1;
        return 1;
      }
      part = next;
      inpart = 1;
    }
    ls = next;
  }
  if (!found) {
    buf_trunc(out, start);
    return 0;
  }
  /* No close delimiter: the rest is the last part. */
  return transform(p + part, n - part, depth + 1, out, changed) == -1 ? -1 : 1;
}

static int transform(const char *e, size_t n, int depth, struct buf *out, unsigned *changed)
{
  size_t hn = head_end(e, n), pos = 0, fn, vn, start = out->len;
  const char *f, *v, *body = e + hn, *ct = 0;
  size_t ctn = 0, bn = n - hn, cten = 0;
  const char *ctev = 0;
  char type[MIME_TYPE_MAX], cte[32], bnd[MIME_BOUNDARY_MAX + 2];
  while (field(e, hn, &pos, &f, &fn)) {
    if (!ct && field_value(f, fn, "content-type", &v, &vn)) {
      ct = v;
      ctn = vn;
    }
    if (!ctev && field_value(f, fn, "content-transfer-encoding", &v, &vn)) {
      ctev = v;
      cten = vn;
    }
  }
  mime_type(type, ct ? ct : "", ct ? ctn : 0);
  cte[0] = 0;
  if (ctev) cte_token(cte, sizeof cte, ctev, cten);
  if (hn == n || smimeenc_is7bit(body, bn)) return buf_add(out, e, n);
  if (!strncmp(type, "multipart/", 10)) {
    unsigned before = *changed;
    int r;
    if (depth >= SMIMEENC_DEPTH_MAX || !mime_param(ct, ctn, "boundary", bnd, sizeof bnd)
        || strlen(bnd) > MIME_BOUNDARY_MAX)
      return buf_add(out, e, n);
    if (buf_add(out, e, hn) == -1) return -1;
    r = multipart(body, bn, bnd, depth, out, changed);
    if (r == -1) return -1;
    if (r == 0) return buf_add(out, body, bn);
    /* All 7-bit now: a "Content-Transfer-Encoding: 8bit" would be untrue. */
    if (*changed != before && (!strcmp(cte, "8bit") || !strcmp(cte, "binary"))
        && smimeenc_is7bit(out->s + start + hn, out->len - start - hn)) {
      struct buf t = BUF_ZERO;
      if (buf_add(&t, out->s + start + hn, out->len - start - hn) == -1) return -1;
      buf_trunc(out, start);
      r = put_head(out, e, hn - (hn >= 2 && e[hn - 2] == '\r' ? 2 : 1), "7bit") == -1
          || buf_add(out, t.s, t.len) == -1 ? -1 : 0;
      buf_free(&t);
      return r;
    }
    return 0;
  }
  if (!strncmp(type, "message/", 8)) return buf_add(out, e, n);
  if (cte[0] && strcmp(cte, "7bit") && strcmp(cte, "8bit") && strcmp(cte, "binary"))
    return buf_add(out, e, n);
  (*changed)++;
  if (!strncmp(type, "text/", 5))
    return put_head(out, e, hn - (hn >= 2 && e[hn - 2] == '\r' ? 2 : 1), "quoted-printable") == -1
           || smimeenc_qp(body, bn, out) == -1 ? -1 : 0;
  return put_head(out, e, hn - (hn >= 2 && e[hn - 2] == '\r' ? 2 : 1), "base64") == -1
         || smimeenc_b64(body, bn, out) == -1 ? -1 : 0;
}

int smimeenc_entity(const char *e, size_t n, struct buf *out, unsigned *changed)
{
  *changed = 0;
  if (buf_ready(out, n) == -1) return -1;
  return transform(e, n, 0, out, changed);
}
