/* cgi.c: form decoding, content type and length, HTML escaping for the
   CGI programs (see cgi.h).  URL-encoded forms are small and simple
   enough (WHATWG URL Standard, application/x-www-form-urlencoded) that no
   library is needed for them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cgi.h"

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decode s[0..n) onto a new string in *out.  0 or -1. */
static int decode(const char *s, size_t n, char **out)
{
  char *d = malloc(n + 1);
  size_t i, k = 0;
  if (!d) return errno = ENOMEM, -1;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (c == '+') c = ' ';
    else if (c == '%') {
      int h, l;
      if (i + 2 >= n) goto bad;
      h = hexval(s[i + 1]);
      l = hexval(s[i + 2]);
      if (h < 0 || l < 0) goto bad;
      c = (char)(h * 16 + l);
      i += 2;
    }
    if (c == 0) goto bad;
    d[k++] = c;
  }
  d[k] = 0;
  *out = d;
  return 0;
bad:
  free(d);
  return errno = EINVAL, -1;
}

int cgi_parse(struct cgi *c, const char *s, size_t n)
{
  size_t i = 0;
  if (n > CGI_BODY_MAX) return errno = EINVAL, -1;
  while (i < n) {
    const char *p = s + i, *amp = memchr(p, '&', n - i), *eq;
    size_t len = amp ? (size_t)(amp - p) : n - i;
    struct cgi_param x;
    i += len + 1;
    if (len == 0) continue;
    if (c->n >= CGI_PARAMS_MAX) return errno = EINVAL, -1;
    eq = memchr(p, '=', len);
    if (decode(p, eq ? (size_t)(eq - p) : len, &x.name) == -1) return -1;
    if (decode(eq ? eq + 1 : "", eq ? len - (size_t)(eq - p) - 1 : 0, &x.value) == -1) {
      free(x.name);
      return -1;
    }
    if (c->n == c->cap) {
      size_t nc = c->cap ? c->cap * 2 : 8;
      struct cgi_param *np = realloc(c->p, nc * sizeof *np);
      if (!np) {
        free(x.name);
        free(x.value);
        return errno = ENOMEM, -1;
      }
      c->p = np;
      c->cap = nc;
    }
    c->p[c->n++] = x;
  }
  return 0;
}

const char *cgi_get(const struct cgi *c, const char *name)
{
  size_t i;
  for (i = 0; i < c->n; i++)
    if (!strcmp(c->p[i].name, name)) return c->p[i].value;
  return 0;
}

void cgi_free(struct cgi *c)
{
  size_t i;
  for (i = 0; i < c->n; i++) {
    free(c->p[i].name);
    free(c->p[i].value);
  }
  free(c->p);
  c->p = 0;
  c->n = c->cap = 0;
}

int cgi_type_is(const char *ct, const char *type)
{
  size_t n = strlen(type);
  if (!ct) return 0;
  while (*ct == ' ' || *ct == '\t') ct++;
  if (strncasecmp(ct, type, n)) return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t') ct++;
  return *ct == 0 || *ct == ';';
}

int cgi_length(const char *s, size_t max, size_t *n)
{
  unsigned long long v = 0;
  *n = 0;
  if (!s || !*s) return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return errno = EINVAL, -1;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > max) return errno = EFBIG, -1;
  }
  *n = (size_t)v;
  return 0;
}

int cgi_html(struct buf *out, const char *s)
{
  for (; *s; s++) {
    const char *e = 0;
    switch (*s) {
    case '&': e = "&amp;"; break;
    case '<': e = "&lt;"; break;
    case '>': e = "&gt;"; break;
    case '"': e = "&quot;"; break;
    case '\'': e = "&#39;"; break;
    default: break;
    }
    if (e ? buf_adds(out, e) == -1 : buf_addc(out, *s) == -1) return -1;
  }
  return 0;
}
