/* addr.c: parse mail addresses into the internal form, compare them, and
   give the domain as an A-label (see addr.h, DESIGN.md section 5 and
   doc/addresses.md).  Pure functions: no I/O, no globals; errors are -1 with
   errno EINVAL (malformed) or ENOMEM. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <idn2.h>
#include "addr.h"

/* Length (2..4) of the valid UTF-8 sequence of a non-ASCII character at
   s[0..n), or 0.  Refuses overlong forms, surrogates, code points above
   U+10FFFF and the C1 controls U+0080..U+009F (control characters are never
   part of an address, in any encoding). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  unsigned c = s[0], cp;
  size_t len, i;
  if (c < 0xc2) return 0;                   /* ASCII, continuation, overlong 2-byte */
  if (c < 0xe0) { len = 2; cp = c & 0x1f; }
  else if (c < 0xf0) { len = 3; cp = c & 0x0f; }
  else if (c < 0xf5) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  if (cp < 0xa0) return 0;
  return len;
}

static int is_alnum(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext (ASCII part). */
static int is_atext(unsigned char c)
{
  return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static unsigned char lower(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* An unquoted local part as given: 1 if every character is printable
   US-ASCII other than space, or valid UTF-8; *is_atom set if it is also an
   RFC 5321/6531 dot-string (atoms of atext or UTF-8 separated by single
   dots), which is kept unquoted.  0 if malformed. */
static int local_plain(const unsigned char *s, size_t n, int *is_atom)
{
  size_t i = 0, k;
  int atom = 1, prev_dot = 1;               /* "previous was a dot" at the start: no leading dot */
  while (i < n) {
    unsigned char c = s[i];
    if (c >= 0x80) {
      if (!(k = utf8_seq(s + i, n - i))) return 0;
      i += k;
      prev_dot = 0;
      continue;
    }
    if (c <= 0x20 || c == 0x7f) return 0;   /* controls and space need quotes: refused */
    if (c == '.') {
      if (prev_dot) atom = 0;
      prev_dot = 1;
    } else {
      if (!is_atext(c)) atom = 0;
      prev_dot = 0;
    }
    i++;
  }
  if (prev_dot) atom = 0;                   /* trailing dot (or empty) */
  *is_atom = atom;
  return 1;
}

/* A quoted local part s[0..n) including both quotes: 1 if it is a
   well-formed RFC 5321 Quoted-string (with RFC 6531 UTF-8) holding at least
   one character, else 0. */
static int local_quoted(const unsigned char *s, size_t n)
{
  size_t i, k, end;
  if (n < 3 || s[0] != '"' || s[n - 1] != '"') return 0;
  end = n - 1;
  for (i = 1; i < end; ) {
    unsigned char c = s[i];
    if (c == '\\') {
      if (i + 1 >= end || s[i + 1] < 0x20 || s[i + 1] > 0x7e) return 0;
      i += 2;
    } else if (c == '"') {
      return 0;
    } else if (c >= 0x80) {
      if (!(k = utf8_seq(s + i, end - i))) return 0;
      i += k;
    } else if (c < 0x20 || c == 0x7f) {
      return 0;
    } else {
      i++;
    }
  }
  return 1;
}

/* An address literal s[0..n) including the brackets: [IPv4] or [IPv6:addr]. */
static int domain_literal(const char *s, size_t n)
{
  char ip[INET6_ADDRSTRLEN + 8];
  unsigned char bin[16];
  const char *in;
  size_t len;
  int af = AF_INET;
  if (n < 3 || s[0] != '[' || s[n - 1] != ']') return 0;
  in = s + 1;
  len = n - 2;
  if (len > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
    af = AF_INET6;
    in += 5;
    len -= 5;
  }
  if (len == 0 || len >= sizeof ip || memchr(in, 0, len)) return 0;
  memcpy(ip, in, len);
  ip[len] = 0;
  return inet_pton(af, ip, bin) == 1;
}

/* 1 if s[0..n) is a domain as section 5 describes it: labels of letters,
   digits, '-', '_' and UTF-8 (IDN), each starting with a letter, a digit or
   a non-ASCII character, separated by single dots; or an address literal. */
static int domain_ok(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, k;
  int at_start = 1;
  if (n == 0) return 0;
  if (s[0] == '[') return domain_literal(s, n);
  while (i < n) {
    unsigned char c = u[i];
    if (c >= 0x80) {
      if (!(k = utf8_seq(u + i, n - i))) return 0;
      i += k;
      at_start = 0;
      continue;
    }
    if (c == '.') {
      if (at_start) return 0;               /* leading or double dot */
      at_start = 1;
    } else if (is_alnum(c)) {
      at_start = 0;
    } else if (c == '-' || c == '_') {
      if (at_start) return 0;
    } else {
      return 0;
    }
    i++;
  }
  return !at_start;                         /* no trailing dot */
}

int addr_parse(struct buf *out, const char *p, size_t n, int allow_empty)
{
  const unsigned char *u = (const unsigned char *)p;
  size_t at, i, start = out->len;
  int is_atom = 0;
  if (n == 0) {
    if (!allow_empty) return errno = EINVAL, -1;
    return buf_add(out, "", 0);
  }
  /* The domain can hold no '@', so the last one separates the parts even
     when the local part (quoted or irregular) contains one. */
  at = n;
  while (at > 0 && p[at - 1] != '@') at--;
  if (at == 0) return errno = EINVAL, -1;
  at--;
  if (at == 0 || !domain_ok(p + at + 1, n - at - 1)) return errno = EINVAL, -1;
  if (p[0] == '"') {
    /* Already quoted: kept as it is, once its syntax is checked. */
    if (!local_quoted(u, at)) return errno = EINVAL, -1;
    if (buf_add(out, p, at) == -1) goto nomem;
  } else {
    if (!local_plain(u, at, &is_atom)) return errno = EINVAL, -1;
    if (is_atom) {
      if (buf_add(out, p, at) == -1) goto nomem;
    } else {
      /* Irregular but printable: quote it, escaping '\' and '"'. */
      if (buf_ready(out, at + 2) == -1 || buf_addc(out, '"') == -1) goto nomem;
      for (i = 0; i < at; i++) {
        if ((p[i] == '\\' || p[i] == '"') && buf_addc(out, '\\') == -1) goto nomem;
        if (buf_addc(out, p[i]) == -1) goto nomem;
      }
      if (buf_addc(out, '"') == -1) goto nomem;
    }
  }
  if (buf_add(out, p + at, n - at) == -1) goto nomem;
  return 0;
nomem:
  buf_trunc(out, start);
  return errno = ENOMEM, -1;
}

int addr_is_utf8(const char *a)
{
  for (; *a; a++)
    if ((unsigned char)*a >= 0x80) return 1;
  return 0;
}

const char *addr_domain(const char *a)
{
  const char *d = strrchr(a, '@');
  return d ? d + 1 : a + strlen(a);
}

int addr_cmp(const char *a, const char *b)
{
  const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
  for (;; x++, y++) {
    unsigned char c = lower(*x), d = lower(*y);
    if (c != d) return c < d ? -1 : 1;
    if (!c) return 0;
  }
}

int addr_key(struct buf *out, const char *a)
{
  size_t i, n = strlen(a);
  if (buf_ready(out, n) == -1) return -1;
  for (i = 0; i < n; i++) out->s[out->len + i] = (char)lower((unsigned char)a[i]);
  out->len += n;
  out->s[out->len] = 0;
  return 0;
}

int addr_domain_ascii(struct buf *out, const char *domain)
{
  size_t i, n = strlen(domain), start = out->len;
  char *ace = 0;
  int rc;
  if (!domain_ok(domain, n)) return errno = EINVAL, -1;
  if (domain[0] == '[') return buf_add(out, domain, n);   /* a literal is no name */
  if (!addr_is_utf8(domain)) {
    for (i = 0; i < n; i++)
      if (buf_addc(out, (char)lower((unsigned char)domain[i])) == -1) goto nomem;
    return 0;
  }
  rc = idn2_to_ascii_8z(domain, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
  if (rc == IDN2_MALLOC) return errno = ENOMEM, -1;
  if (rc != IDN2_OK || !ace) return errno = EINVAL, -1;
  /* UTS 46 maps some characters to nothing (U+200B) and full-width
     punctuation to ASCII (U+FF3B to '['): what is left must still
     be a domain name. */
  if (ace[0] == '[' || !domain_ok(ace, strlen(ace)) || addr_is_utf8(ace)) {
    idn2_free(ace);
    return errno = EINVAL, -1;
  }
  for (i = 0; ace[i]; i++)
    if (buf_addc(out, (char)lower((unsigned char)ace[i])) == -1) {
      idn2_free(ace);
      goto nomem;
    }
  idn2_free(ace);
  return 0;
nomem:
  buf_trunc(out, start);
  return errno = ENOMEM, -1;
}
