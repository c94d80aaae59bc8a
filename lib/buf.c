/* buf.c: growable buffers (see buf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"

int buf_ready(struct buf *b, size_t extra)
{
  size_t need, ncap;
  char *p;
  if (__builtin_add_overflow(b->len, extra, &need)
      || __builtin_add_overflow(need, 1, &need))
    return errno = ENOMEM, -1;
  if (need <= b->cap) return 0;
  ncap = b->cap ? b->cap : 64;
  while (ncap < need)
    if (__builtin_mul_overflow(ncap, 2, &ncap)) { ncap = need; break; }
  p = realloc(b->s, ncap);
  if (!p) return errno = ENOMEM, -1;
  b->s = p;
  b->cap = ncap;
  return 0;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
  if (buf_ready(b, n) == -1) return -1;
  if (n) memcpy(b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = 0;
  return 0;
}
int buf_adds(struct buf *b, const char *s) { return buf_add(b, s, strlen(s)); }
int buf_addz(struct buf *b, const char *s) { return buf_add(b, s, strlen(s) + 1); }
int buf_addc(struct buf *b, char c) { return buf_add(b, &c, 1); }
int buf_addu(struct buf *b, unsigned long long u)
{
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", u);
  return buf_add(b, t, (size_t)n);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(0, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return errno = EINVAL, -1;
  if (buf_ready(b, (size_t)n) == -1) return -1;
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

int buf_set(struct buf *b, const void *p, size_t n)
{
  b->len = 0;
  return buf_add(b, p, n);
}
void buf_trunc(struct buf *b, size_t len)
{
  if (len < b->len) b->len = len;
  if (b->s) b->s[b->len] = 0;
}
void buf_free(struct buf *b)
{
  free(b->s);
  b->s = 0;
  b->len = b->cap = 0;
}
