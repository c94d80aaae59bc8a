/* bounce_mime.c: header fields, Content-Type parameters, multipart parts,
   base64, quoted-printable, RFC 2047 words and charset conversion for the
   bounce parser (see bounce_mime.h).  Input is LF-only text; every loop is
   bounded by the length it is given. */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include "bounce_mime.h"

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int ieq(const char *a, size_t an, const char *b)
{
  size_t i;
  for (i = 0; i < an; i++)
    if (!b[i] || lc((unsigned char)a[i]) != lc((unsigned char)b[i])) return 0;
  return b[i] == 0;
}

/* Length of a field name at p ("Name:"), 0 if the line is not a field. */
static size_t field_name(const char *p, const char *end)
{
  const char *q = p;
  while (q < end && *q > 32 && *q < 127 && *q != ':') q++;
  if (q == p) return 0;
  {
    size_t n = (size_t)(q - p);
    while (q < end && (*q == ' ' || *q == '\t')) q++;
    return q < end && *q == ':' ? n : 0;
  }
}

size_t mime_header_end(const char *p, size_t n)
{
  const char *q = p, *end = p + n;
  if (n && p[0] == '\n') return 1;
  if (!field_name(p, end)) return 0;   /* no header block at all */
  while (q < end) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    if (!nl) return n;
    if (nl + 1 < end && nl[1] == '\n') return (size_t)(nl + 2 - p);
    q = nl + 1;
  }
  return n;
}

int mime_field_next(const char **pp, const char *end, struct mime_field *f)
{
  const char *p = *pp;
  while (p < end) {
    const char *nl, *q;
    size_t nlen;
    if (*p == '\n') { *pp = end; return 0; }   /* blank line: end of block */
    nlen = field_name(p, end);
    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    if (!nlen) { p = nl < end ? nl + 1 : end; continue; }
    /* the value runs on over continuation lines */
    while (nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t')) {
      const char *n2 = memchr(nl + 1, '\n', (size_t)(end - nl - 1));
      nl = n2 ? n2 : end;
      if (nl == end) break;
    }
    q = memchr(p, ':', (size_t)(nl - p));
    f->name = p;
    f->nlen = nlen;
    f->val = q + 1;
    f->vlen = (size_t)(nl - q - 1);
    *pp = nl < end ? nl + 1 : end;
    return 1;
  }
  *pp = end;
  return 0;
}

int mime_ieq(const char *a, const char *b, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (lc((unsigned char)a[i]) != b[i]) return 0;
  return 1;
}

int mime_unfold(struct buf *out, const char *v, size_t n)
{
  size_t i, start = out->len;
  int sp = 0;
  if (buf_ready(out, n) == -1) return -1;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (is_ws(c)) { sp = 1; continue; }
    if (sp && out->len > start) out->s[out->len++] = ' ';
    sp = 0;
    out->s[out->len++] = (char)c;
  }
  out->s[out->len] = 0;
  return 0;
}

void mime_type(char out[MIME_TYPE_MAX], const char *v, size_t n)
{
  size_t i = 0, j = 0;
  while (i < n && is_ws((unsigned char)v[i])) i++;
  while (i < n && v[i] != ';' && !is_ws((unsigned char)v[i]) && j < MIME_TYPE_MAX - 1)
    out[j++] = (char)lc((unsigned char)v[i++]);
  out[j] = 0;
  if (!j || !memchr(out, '/', j)) {
    memcpy(out, "text/plain", 11);
  }
}

int mime_param(const char *v, size_t n, const char *name, char *out, size_t outn)
{
  size_t i = 0, nl = strlen(name);
  int quoted = 0;
  /* walk the value, find ';' outside quotes, then name '=' */
  while (i < n) {
    if (v[i] == '"') quoted = !quoted;
    if (v[i] != ';' || quoted) { i++; continue; }
    i++;
    while (i < n && is_ws((unsigned char)v[i])) i++;
    if (i + nl <= n) {
      size_t k;
      for (k = 0; k < nl; k++)
        if (lc((unsigned char)v[i + k]) != name[k]) break;
      if (k == nl) {
        size_t j = i + nl, o = 0;
        while (j < n && is_ws((unsigned char)v[j])) j++;
        if (j < n && v[j] == '=') {
          j++;
          while (j < n && is_ws((unsigned char)v[j])) j++;
          if (j < n && v[j] == '"') {
            j++;
            while (j < n && v[j] != '"') {
              if (v[j] == '\\' && j + 1 < n) j++;
              if (v[j] != '\n' && o + 1 < outn) out[o++] = v[j];
              j++;
            }
          } else {
            while (j < n && v[j] != ';' && !is_ws((unsigned char)v[j])) {
              if (o + 1 < outn) out[o++] = v[j];
              j++;
            }
          }
          if (outn) out[o] = 0;
          return o > 0;
        }
      }
    }
  }
  return 0;
}

void mime_find_init(struct mime_find *f, const char *pat, size_t n)
{
  size_t i;
  if (n > MIME_FIND_MAX) n = MIME_FIND_MAX;
  memcpy(f->pat, pat, n);
  f->n = n;
  /* a skip longer than 255 is cut to 255: still correct, a little slower */
  memset(f->skip, n > 255 ? 255 : (int)n, sizeof f->skip);
  for (i = 0; i + 1 < n; i++)
    f->skip[(unsigned char)pat[i]] = (unsigned char)(n - 1 - i > 255 ? 255 : n - 1 - i);
}

const char *mime_find(const struct mime_find *f, const char *h, size_t hn)
{
  size_t i = 0, n = f->n;
  unsigned char last;
  if (!n || hn < n) return n ? 0 : h;
  last = (unsigned char)f->pat[n - 1];
  while (i + n <= hn) {
    unsigned char c = (unsigned char)h[i + n - 1];
    if (c == last && !memcmp(h + i, f->pat, n - 1)) return h + i;
    i += f->skip[c];
  }
  return 0;
}

void mime_parts_init(struct mime_parts *it, const char *body, size_t n,
                     const char *bnd, size_t blen)
{
  char pat[MIME_FIND_MAX];
  it->p = body;
  it->end = body + n;
  it->bnd = bnd;
  it->blen = blen;
  it->done = blen == 0 || blen + 3 > MIME_FIND_MAX;
  if (it->done) return;
  pat[0] = '\n';
  pat[1] = pat[2] = '-';
  memcpy(pat + 3, bnd, blen);
  mime_find_init(&it->nl_bnd, pat, blen + 3);
}

/* Is p (at a line start) a delimiter line?  1 plain, 2 closing, 0 no. */
static int delim(const struct mime_parts *it, const char *p)
{
  size_t room = (size_t)(it->end - p);
  if (room < it->blen + 2 || p[0] != '-' || p[1] != '-'
      || memcmp(p + 2, it->bnd, it->blen) != 0)
    return 0;
  p += 2 + it->blen;
  room -= 2 + it->blen;
  if (room >= 2 && p[0] == '-' && p[1] == '-') return 2;
  return 1;
}

/* The next delimiter line at or after p: its start, or end. */
static const char *next_delim(const struct mime_parts *it, const char *p, int *kind)
{
  *kind = 0;
  if (p < it->end && (*kind = delim(it, p)) != 0) return p;
  while (p < it->end) {
    const char *d = mime_find(&it->nl_bnd, p, (size_t)(it->end - p));
    if (!d) break;
    if ((*kind = delim(it, d + 1)) != 0) return d + 1;
    p = d + 1;
  }
  *kind = 0;
  return it->end;
}

int mime_part_next(struct mime_parts *it, const char **part, size_t *plen)
{
  const char *d, *start, *nl;
  int kind;
  if (it->done) return 0;
  d = next_delim(it, it->p, &kind);
  if (kind != 1) { it->done = 1; return 0; }
  nl = memchr(d, '\n', (size_t)(it->end - d));
  if (!nl) { it->done = 1; return 0; }
  start = nl + 1;
  d = next_delim(it, start, &kind);
  *part = start;
  /* the newline before the delimiter belongs to the delimiter */
  *plen = (size_t)(d - start);
  if (*plen && d < it->end && start[*plen - 1] == '\n') (*plen)--;
  it->p = d;
  if (kind != 1) it->done = 1;
  return 1;
}

static int b64val(int c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int mime_unbase64(struct buf *out, const char *p, size_t n)
{
  unsigned long acc = 0;
  int bits = 0;
  size_t i;
  if (buf_ready(out, n / 4 * 3 + 3) == -1) return -1;
  for (i = 0; i < n; i++) {
    int v = b64val((unsigned char)p[i]);
    if (p[i] == '=') { acc = 0; bits = 0; continue; }  /* padding; concatenated chunks go on */
    if (v < 0) continue;
    acc = (acc << 6) | (unsigned long)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->s[out->len++] = (char)((acc >> bits) & 0xff);
    }
  }
  out->s[out->len] = 0;
  return 0;
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  c = lc(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int mime_unqp(struct buf *out, const char *p, size_t n)
{
  size_t i = 0;
  if (buf_ready(out, n) == -1) return -1;
  while (i < n) {
    const char *eq = memchr(p + i, '=', n - i);
    size_t run = eq ? (size_t)(eq - (p + i)) : n - i;
    memcpy(out->s + out->len, p + i, run);     /* plain text up to the next '=' */
    out->len += run;
    i += run;
    if (i >= n) break;
    if (i + 1 < n) {
      size_t j = i + 1;
      int h, l;
      while (j < n && (p[j] == ' ' || p[j] == '\t')) j++;
      if (j < n && p[j] == '\n') { i = j + 1; continue; }      /* soft line break */
      if (i + 2 < n && (h = hexval((unsigned char)p[i + 1])) >= 0
          && (l = hexval((unsigned char)p[i + 2])) >= 0) {
        out->s[out->len++] = (char)(h * 16 + l);
        i += 3;
        continue;
      }
    }
    out->s[out->len++] = p[i++];
  }
  out->s[out->len] = 0;
  return 0;
}

static int ci_prefix(const char *s, const char *pre)
{
  size_t i;
  for (i = 0; pre[i]; i++)
    if (lc((unsigned char)s[i]) != pre[i]) return 0;
  return 1;
}

static int is_plain(const char *cs)
{
  static const char *const plain[] = {
    "", "us-ascii", "ascii", "utf-8", "utf8", "uft-8", "unknown-8bit",
    "x-unknown", "7bit", "8bit", "default", 0
  };
  int i;
  for (i = 0; plain[i]; i++)
    if (ieq(cs, strlen(cs), plain[i])) return 1;
  return 0;
}

void mime_convs_free(struct mime_convs *cv)
{
  unsigned i;
  for (i = 0; i < MIME_CONVS; i++)
    if (cv->c[i].cd) {
      iconv_close((iconv_t)cv->c[i].cd);
      cv->c[i].cd = 0;
    }
}

static iconv_t conv_open(struct mime_convs *cv, const char *cs, int *cached)
{
  unsigned i;
  iconv_t cd;
  *cached = 0;
  if (cv)
    for (i = 0; i < MIME_CONVS; i++)
      if (cv->c[i].cd && !strcmp(cv->c[i].cs, cs)) {
        cd = (iconv_t)cv->c[i].cd;
        iconv(cd, 0, 0, 0, 0);      /* back to the initial shift state */
        *cached = 1;
        return cd;
      }
  cd = iconv_open("UTF-8", cs);
  if (cd == (iconv_t)-1 || !cv || strlen(cs) >= sizeof cv->c[0].cs) return cd;
  i = cv->next++ % MIME_CONVS;
  if (cv->c[i].cd) iconv_close((iconv_t)cv->c[i].cd);
  memcpy(cv->c[i].cs, cs, strlen(cs) + 1);
  cv->c[i].cd = (void *)cd;
  *cached = 1;
  return cd;
}

/* 1 if p[0..n) is plain ASCII, which every charset but the wide and
   the 7-bit-encoded ones leaves as it is. */
static int ascii(const char *cs, const char *p, size_t n)
{
  size_t i;
  if (ci_prefix(cs, "utf-16") || ci_prefix(cs, "utf-32") || ci_prefix(cs, "utf-7")
      || ci_prefix(cs, "ucs") || ci_prefix(cs, "hz"))
    return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0x80 || p[i] == 0x1b || p[i] == 0) return 0;
  return 1;
}

/* Convert p[0..n) from cs, appending to out.  1 if every byte converted,
   0 if some were kept as they were (strict: stop at the first), -1
   ENOMEM or no such charset. */
static int convert(struct buf *out, struct mime_convs *cv, const char *cs, const char *p, size_t n,
                   int strict)
{
  iconv_t cd;
  char *in, *o;
  size_t inleft, room;
  int cached, clean = 1;
  cd = conv_open(cv, cs, &cached);
  if (cd == (iconv_t)-1) return errno = EINVAL, -1;
  in = (char *)(size_t)p;           /* iconv's prototype is not const */
  inleft = n;
  while (inleft) {
    size_t r;
    if (buf_ready(out, inleft * 2 + 16) == -1) { if (!cached) iconv_close(cd); return -1; }
    o = out->s + out->len;
    room = out->cap - out->len - 1;
    r = iconv(cd, &in, &inleft, &o, &room);
    out->len = (size_t)(o - out->s);
    if (r != (size_t)-1) break;
    if (errno == E2BIG) continue;
    /* EILSEQ or EINVAL: keep the byte as it is and go on, unless only
       asked whether it converts */
    clean = 0;
    if (strict) break;
    out->s[out->len++] = *in == 0x1b ? '?' : *in;
    in++;
    inleft--;
  }
  if (buf_ready(out, 16) == -1) { if (!cached) iconv_close(cd); return -1; }
  o = out->s + out->len;
  room = out->cap - out->len - 1;
  iconv(cd, 0, 0, &o, &room);       /* shift back to the initial state */
  out->len = (size_t)(o - out->s);
  out->s[out->len] = 0;
  if (!cached) iconv_close(cd);
  return clean;
}

int mime_utf8(struct buf *out, struct mime_convs *cv, const char *charset, const char *p, size_t n)
{
  const char *cs = charset ? charset : "";
  size_t start = out->len;
  int r, jp;
  if (memchr(p, 0x1b, n) && (strstr(cs, "2022") || is_plain(cs)))
    cs = "ISO-2022-JP";             /* JIS escapes, labelled or not */
  else if (is_plain(cs) || ascii(cs, p, n))
    return buf_add(out, p, n);
  jp = ci_prefix(cs, "iso-2022-jp") || ci_prefix(cs, "euc-jp") || ci_prefix(cs, "shift")
       || ci_prefix(cs, "x-sjis") || ci_prefix(cs, "sjis") || ci_prefix(cs, "cp932")
       || ci_prefix(cs, "windows-31j") || ci_prefix(cs, "x-euc-jp");
  if (ieq(cs, strlen(cs), "x-sjis") || ieq(cs, strlen(cs), "shift-jis")
      || ieq(cs, strlen(cs), "sjis") || ieq(cs, strlen(cs), "shift_jis"))
    cs = "CP932";                   /* what Windows and carriers really send */
  else if (ieq(cs, strlen(cs), "iso-2022-jp"))
    cs = "ISO-2022-JP-3";           /* a superset that also takes JIS X 0213 */
  r = convert(out, cv, cs, p, n, jp);
  if (r == 1) return 0;
  if (r == -1 && errno != EINVAL) return -1;
  if (jp) {
    /* Japanese mail is often labelled with the wrong one of the three */
    static const char *const alt[] = { "EUC-JP", "CP932", 0 };
    int i;
    for (i = 0; alt[i]; i++) {
      buf_trunc(out, start);
      if ((r = convert(out, cv, alt[i], p, n, 1)) == 1) return 0;
      if (r == -1 && errno != EINVAL) return -1;
    }
  }
  buf_trunc(out, start);
  if (convert(out, cv, cs, p, n, 0) == -1) {
    if (errno != EINVAL) return -1;
    buf_trunc(out, start);
    return buf_add(out, p, n);      /* unknown charset: the bytes as they are */
  }
  return 0;
}

/* Decode one encoded word "=?cs?X?text?=" at v (length n); 0 if it is not one. */
static size_t word(struct buf *out, struct mime_convs *cv, struct buf *tmp, const char *v, size_t n)
{
  char cs[40];
  size_t i = 2, c0, e;
  const char *t;
  if (n < 8 || v[0] != '=' || v[1] != '?') return 0;
  c0 = i;
  while (i < n && v[i] != '?' && i - c0 < sizeof cs - 1) i++;
  if (i >= n || v[i] != '?' || i + 3 >= n || v[i + 2] != '?') return 0;
  memcpy(cs, v + c0, i - c0);
  cs[i - c0] = 0;
  {
    char *star = strchr(cs, '*');   /* RFC 2231 language suffix */
    if (star) *star = 0;
  }
  e = lc((unsigned char)v[i + 1]);
  if (e != 'b' && e != 'q') return 0;
  t = v + i + 3;
  for (i = (size_t)(t - v); i + 1 < n; i++)
    if (v[i] == '?' && v[i + 1] == '=') break;
  if (i + 1 >= n) return 0;
  tmp->len = 0;
  if (e == 'b') {
    if (mime_unbase64(tmp, t, (size_t)(v + i - t)) == -1) return 0;
  } else {
    size_t k;
    if (buf_ready(tmp, (size_t)(v + i - t)) == -1) return 0;
    for (k = 0; k < (size_t)(v + i - t); k++) {
      int h, l;
      if (t[k] == '_') tmp->s[tmp->len++] = ' ';
      else if (t[k] == '=' && k + 2 < (size_t)(v + i - t)
               && (h = hexval((unsigned char)t[k + 1])) >= 0
               && (l = hexval((unsigned char)t[k + 2])) >= 0) {
        tmp->s[tmp->len++] = (char)(h * 16 + l);
        k += 2;
      } else tmp->s[tmp->len++] = t[k];
    }
    tmp->s[tmp->len] = 0;
  }
  if (mime_utf8(out, cv, cs, tmp->s ? tmp->s : "", tmp->len) == -1) return 0;
  return i + 2;
}

int mime_words(struct buf *out, struct mime_convs *cv, const char *v, size_t n)
{
  struct buf tmp = BUF_ZERO, un = BUF_ZERO;
  size_t i = 0;
  int last_word = 0, r = 0;
  if (mime_unfold(&un, v, n) == -1) return -1;
  while (i < un.len) {
    size_t used = 0;
    if (un.s[i] == '=' && i + 1 < un.len && un.s[i + 1] == '?')
      used = word(out, cv, &tmp, un.s + i, un.len - i);
    if (used) {
      i += used;
      last_word = 1;
      continue;
    }
    if (last_word && un.s[i] == ' ') {
      /* white space between two encoded words is not text */
      size_t j = i;
      while (j < un.len && un.s[j] == ' ') j++;
      if (j + 1 < un.len && un.s[j] == '=' && un.s[j + 1] == '?') { i = j; continue; }
    }
    last_word = 0;
    {
      /* plain text up to the next "=?" at once */
      size_t j = i + 1;
      while (j < un.len && !(un.s[j] == '=' && j + 1 < un.len && un.s[j + 1] == '?')) j++;
      if (buf_add(out, un.s + i, j - i) == -1) { r = -1; break; }
      i = j;
    }
  }
  buf_free(&tmp);
  buf_free(&un);
  if (!out->s && buf_ready(out, 0) == -1) return -1;
  return r;
}
