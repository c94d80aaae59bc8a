/* injectp.c: frame heads of the queue-inject server protocol (injectp.h).
   No I/O; t/unit-inject.c tests it. */
#include <errno.h>
#include <string.h>
#include "injectp.h"

size_t injectp_head(char *out, char type, size_t len)
{
  char d[20];
  size_t k = 0, n = 0;
  out[n++] = type;
  if (type != '.') {
    do d[k++] = (char)('0' + len % 10); while ((len /= 10) && k < 10);
    while (k) out[n++] = d[--k];
  }
  out[n++] = '\n';
  return n;
}

long injectp_parse(const char *p, size_t n, char *type, unsigned long long *len)
{
  size_t i;
  unsigned long long v = 0;
  if (n == 0) return 0;
  if (p[0] == '.') {
    if (n < 2) return 0;
    if (p[1] != '\n') return errno = EPROTO, -1;
    *type = '.';
    *len = 0;
    return 2;
  }
  if (p[0] != 'E' && p[0] != 'D') return errno = EPROTO, -1;
  for (i = 1; i < n && i < INJECTP_HEAD_MAX; i++) {
    char c = p[i];
    if (c == '\n') {
      if (i == 1) return errno = EPROTO, -1;            /* no digits */
      *type = p[0];
      *len = v;
      return (long)i + 1;
    }
    if (c < '0' || c > '9') return errno = EPROTO, -1;
    if (i == 2 && p[1] == '0') return errno = EPROTO, -1;  /* leading zero */
    v = v * 10 + (unsigned long long)(c - '0');
  }
  if (i >= INJECTP_HEAD_MAX) return errno = EPROTO, -1;    /* 11 digits or more */
  return 0;
}
