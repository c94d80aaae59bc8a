/* dqhdr.c: header fields for delivery events (see dqhdr.h).  RFC 5322
   unfolding, RFC 2047 decoding with OpenSSL's base64 and iconv(3). */
#include <errno.h>
#include <iconv.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>
#include "dqhdr.h"

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

int dqhdr_field(const char *msg, size_t n, const char *name, struct buf *out)
{
  size_t nl = strlen(name), i = 0, start = out->len;
  int found = 0;
  if (n > DQHDR_SCAN_MAX) n = DQHDR_SCAN_MAX;
  while (i < n) {
    const char *l = msg + i, *e = memchr(l, '\n', n - i);
    size_t len = e ? (size_t)(e - l) : n - i;
    i += len + 1;
    if (len && l[len - 1] == '\r') len--;
    if (len == 0) break;                       /* end of the header */
    if (found) {
      if (!is_wsp(l[0])) break;                /* the next field */
      if (buf_add(out, l, len) == -1) return -1;   /* unfolding keeps the WSP */
      continue;
    }
    if (len > nl && l[nl] == ':' && strncasecmp(l, name, nl) == 0) {
      found = 1;
      if (buf_add(out, l + nl + 1, len - nl - 1) == -1) return -1;
    }
  }
  if (!found) return 0;
  /* Trim white space at both ends. */
  {
    size_t a = start, b = out->len;
    while (a < b && is_wsp(out->s[a])) a++;
    while (b > a && is_wsp(out->s[b - 1])) b--;
    memmove(out->s + start, out->s + a, b - a);
    buf_trunc(out, start + (b - a));
  }
  return 1;
}

int dqhdr_addr(const char *v, size_t n, struct buf *out)
{
  const char *lt = memchr(v, '<', n), *gt;
  size_t i, depth = 0;
  int quoted = 0;
  if (lt && (gt = memchr(lt, '>', n - (size_t)(lt - v))))
    return buf_add(out, lt + 1, (size_t)(gt - lt - 1));
  /* addr-spec, perhaps with comments: "user@example.com (Name)". */
  for (i = 0; i < n; i++) {
    char c = v[i];
    if (quoted) {
      if (c == '"') quoted = 0;
    } else if (depth) {
      if (c == '(') depth++;
      else if (c == ')') depth--;
      continue;
    } else if (c == '(') {
      depth = 1;
      continue;
    } else if (c == '"') {
      quoted = 1;
    } else if (is_wsp(c)) {
      continue;
    }
    if (buf_addc(out, c) == -1) return -1;
  }
  return 0;
}

/* Is s[0..n) a valid UTF-8 sequence starting at s?  Its length, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  size_t len, i;
  unsigned cp;
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) { len = 2; cp = s[0] & 0x1f; }
  else if (s[0] >= 0xe0 && s[0] <= 0xef) { len = 3; cp = s[0] & 0x0f; }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) { len = 4; cp = s[0] & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
      || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

int dqhdr_clean(const char *v, size_t n, struct buf *out)
{
  const unsigned char *s = (const unsigned char *)v;
  size_t i = 0;
  while (i < n) {
    size_t len = utf8_len(s + i, n - i);
    if (len == 0) {
      if (buf_addc(out, '?') == -1) return -1;
      i++;
    } else if (len == 1) {
      char c = (char)s[i];
      if (s[i] < 0x20 || s[i] == 0x7f) c = ' ';
      if (buf_addc(out, c) == -1) return -1;
      i++;
    } else {
      if (buf_add(out, v + i, len) == -1) return -1;
      i += len;
    }
  }
  return 0;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decode the text of one encoded word into out (raw bytes).  0, -1 ENOMEM,
   1 if it is not valid. */
static int word_decode(char enc, const char *t, size_t n, struct buf *out)
{
  size_t i;
  if (enc == 'Q' || enc == 'q') {
    for (i = 0; i < n; i++) {
      char c = t[i];
      if (c == '_') c = ' ';
      else if (c == '=') {
        int h, l;
        if (i + 2 >= n) return 1;
        h = hexval(t[i + 1]);
        l = hexval(t[i + 2]);
        if (h < 0 || l < 0) return 1;
        c = (char)(h * 16 + l);
        i += 2;
      }
      if (buf_addc(out, c) == -1) return -1;
    }
    return 0;
  }
  if (enc == 'B' || enc == 'b') {
    struct buf in = BUF_ZERO;
    size_t pad = 0;
    int r;
    if (buf_add(&in, t, n) == -1) return -1;
    while (in.len % 4) if (buf_addc(&in, '=') == -1) { buf_free(&in); return -1; }
    for (i = in.len; i > 0 && in.s[i - 1] == '='; i--) pad++;
    if (pad > 2 || buf_ready(out, in.len / 4 * 3) == -1) { buf_free(&in); return pad > 2 ? 1 : -1; }
    r = EVP_DecodeBlock((unsigned char *)out->s + out->len, (unsigned char *)in.s, (int)in.len);
    buf_free(&in);
    if (r < 0 || (size_t)r < pad) return 1;
    out->len += (size_t)r - pad;
    out->s[out->len] = 0;
    return 0;
  }
  return 1;
}

/* Convert raw bytes in charset cs to UTF-8, cleaned, onto out. */
static int flush(struct buf *raw, const char *cs, struct buf *out)
{
  iconv_t cd;
  char tmp[1024];
  char *in = raw->s;
  size_t inleft = raw->len;
  int r = 0;
  if (raw->len == 0) return 0;
  if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "us-ascii") == 0
      || (cd = iconv_open("UTF-8", cs)) == (iconv_t)-1) {
    r = dqhdr_clean(raw->s, raw->len, out);
    buf_trunc(raw, 0);
    return r;
  }
  while (inleft && r == 0) {
    char *o = tmp;
    size_t oleft = sizeof tmp;
    size_t k = iconv(cd, &in, &inleft, &o, &oleft);
    if (dqhdr_clean(tmp, (size_t)(o - tmp), out) == -1) r = -1;
    else if (k == (size_t)-1 && errno != E2BIG) {
      /* A byte the charset does not have, or a truncated sequence. */
      if (buf_addc(out, '?') == -1) r = -1;
      in++;
      inleft--;
    }
  }
  {
    char *o = tmp;
    size_t oleft = sizeof tmp;
    iconv(cd, 0, 0, &o, &oleft);     /* shift back to the initial state */
    if (r == 0 && dqhdr_clean(tmp, (size_t)(o - tmp), out) == -1) r = -1;
  }
  iconv_close(cd);
  buf_trunc(raw, 0);
  return r;
}

int dqhdr_decode(const char *v, size_t n, struct buf *out)
{
  struct buf raw = BUF_ZERO;
  char cs[64] = "";
  size_t i = 0, gap = 0;               /* gap: white space after the last word */
  int after_word = 0, r = 0;
  while (i < n && r == 0) {
    const char *p = v + i;
    size_t left = n - i, j, cslen, tstart, tend;
    char wcs[64];
    int d;
    if (left < 8 || p[0] != '=' || p[1] != '?') goto plain;
    for (j = 2; j < left && p[j] != '?' && !is_wsp(p[j]); j++) ;
    if (j >= left || p[j] != '?' || j == 2) goto plain;
    cslen = j - 2;
    if (j + 3 >= left || p[j + 2] != '?') goto plain;
    tstart = j + 3;
    for (tend = tstart; tend + 1 < left && !(p[tend] == '?' && p[tend + 1] == '='); tend++)
      if (is_wsp(p[tend])) break;
    if (tend + 1 >= left || p[tend] != '?' || p[tend + 1] != '=') goto plain;
    if (cslen >= sizeof wcs) goto plain;
    memcpy(wcs, p + 2, cslen);
    wcs[cslen] = 0;
    {
      char *star = strchr(wcs, '*');    /* RFC 2231 language tag */
      if (star) *star = 0;
    }
    if (strcmp(wcs, cs) != 0) {
      if (flush(&raw, cs, out) == -1) { r = -1; break; }
      memcpy(cs, wcs, sizeof cs);
    }
    {
      size_t before = raw.len;
      d = word_decode(p[j + 1], p + tstart, tend - tstart, &raw);
      if (d == 1) buf_trunc(&raw, before);    /* a bad word leaves nothing behind */
    }
    if (d == -1) { r = -1; break; }
    if (d == 1) goto plain;
    /* White space between two encoded words is dropped (RFC 2047 6.2). */
    gap = 0;
    after_word = 1;
    i += tend + 2;
    continue;
  plain:
    if (is_wsp(p[0]) && after_word) {
      gap++;
      i++;
      continue;
    }
    if (flush(&raw, cs, out) == -1) { r = -1; break; }
    if (gap && dqhdr_clean(v + i - gap, gap, out) == -1) { r = -1; break; }
    gap = 0;
    after_word = 0;
    if (dqhdr_clean(p, 1, out) == -1) { r = -1; break; }
    /* A UTF-8 sequence must not be cut into single bytes. */
    {
      size_t len = utf8_len((const unsigned char *)p, left);
      if (len > 1) {
        buf_trunc(out, out->len - 1);
        if (buf_add(out, p, len) == -1) { r = -1; break; }
        i += len;
        continue;
      }
    }
    i++;
  }
  if (r == 0) r = flush(&raw, cs, out);
  if (r == 0 && gap) r = dqhdr_clean(v + n - gap, gap, out);
  buf_free(&raw);
  return r;
}

/* Keep at most DQHDR_VALUE_MAX bytes, never cutting a UTF-8 sequence. */
static void cap(struct buf *b)
{
  size_t n = b->len;
  if (n <= DQHDR_VALUE_MAX) return;
  n = DQHDR_VALUE_MAX;
  while (n > 0 && ((unsigned char)b->s[n] & 0xc0) == 0x80) n--;
  buf_trunc(b, n);
}

int dqhdr_parse(struct dqhdr *h, const char *msg, size_t n)
{
  struct buf v = BUF_ZERO;
  int r = -1, f;
  buf_set(&h->from, "", 0);
  buf_set(&h->subject, "", 0);
  buf_set(&h->message_id, "", 0);
  buf_set(&h->api_data, "", 0);
  if (h->from.s == 0 || h->subject.s == 0 || h->message_id.s == 0 || h->api_data.s == 0)
    goto out;
  if ((f = dqhdr_field(msg, n, "From", &v)) == -1) goto out;
  if (f) {
    struct buf a = BUF_ZERO;
    if (dqhdr_addr(v.s, v.len, &a) == -1 || dqhdr_clean(a.s ? a.s : "", a.len, &h->from) == -1) {
      buf_free(&a);
      goto out;
    }
    buf_free(&a);
  }
  buf_trunc(&v, 0);
  if ((f = dqhdr_field(msg, n, "Subject", &v)) == -1) goto out;
  if (f && dqhdr_decode(v.s, v.len, &h->subject) == -1) goto out;
  buf_trunc(&v, 0);
  if ((f = dqhdr_field(msg, n, "Message-ID", &v)) == -1) goto out;
  if (f && dqhdr_clean(v.s, v.len, &h->message_id) == -1) goto out;
  buf_trunc(&v, 0);
  if ((f = dqhdr_field(msg, n, "X-Api-Data", &v)) == -1) goto out;
  if (f && dqhdr_clean(v.s, v.len, &h->api_data) == -1) goto out;
  cap(&h->from);
  cap(&h->subject);
  cap(&h->message_id);
  cap(&h->api_data);
  r = 0;
out:
  buf_free(&v);
  return r;
}

void dqhdr_free(struct dqhdr *h)
{
  buf_free(&h->from);
  buf_free(&h->subject);
  buf_free(&h->message_id);
  buf_free(&h->api_data);
}
