/* cidr.c: address ranges (cidr.h), parsed with inet_pton and compared
   byte by byte: no allocation, no I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cidr.h"

int cidr_addr(const char *s, int *family, unsigned char *a)
{
  if (inet_pton(AF_INET, s, a) == 1) {
    *family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, s, a) == 1) {
    static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
    if (!memcmp(a, mapped, 12)) {       /* ::ffff:a.b.c.d is IPv4 */
      memmove(a, a + 12, 4);
      *family = AF_INET;
    } else {
      *family = AF_INET6;
    }
    return 0;
  }
  return errno = EINVAL, -1;
}

int cidr_parse(const char *s, struct cidr *c)
{
  char tmp[CIDR_MAX];
  char *slash, *end;
  size_t n = strlen(s), bytes, i;
  unsigned max;
  if (n == 0 || n >= sizeof tmp) return errno = EINVAL, -1;
  memcpy(tmp, s, n + 1);
  slash = strchr(tmp, '/');
  if (slash) *slash = 0;
  memset(c, 0, sizeof *c);
  if (cidr_addr(tmp, &c->family, c->a) == -1) return -1;
  if (c->family == AF_INET && strchr(tmp, ':')) return errno = EINVAL, -1;  /* no mapped nets */
  max = c->family == AF_INET ? 32 : 128;
  c->prefix = max;
  if (slash) {
    unsigned long p;
    if (slash[1] < '0' || slash[1] > '9') return errno = EINVAL, -1;
    errno = 0;
    p = strtoul(slash + 1, &end, 10);
    if (errno || *end || p > max) return errno = EINVAL, -1;
    c->prefix = (unsigned)p;
  }
  bytes = max / 8;
  for (i = 0; i < bytes; i++) {
    unsigned bit = (unsigned)i * 8;
    if (bit >= c->prefix) c->a[i] = 0;
    else if (bit + 8 > c->prefix) c->a[i] &= (unsigned char)(0xff << (8 - (c->prefix - bit)));
  }
  return 0;
}

int cidr_format(const struct cidr *c, char *out, size_t n)
{
  char a[INET6_ADDRSTRLEN];
  int r;
  if (!inet_ntop(c->family, c->a, a, sizeof a)) return -1;
  r = snprintf(out, n, "%s/%u", a, c->prefix);
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  return 0;
}

int cidr_match(const struct cidr *c, int family, const unsigned char *a)
{
  unsigned full = c->prefix / 8, rest = c->prefix % 8;
  if (family != c->family) return 0;
  if (memcmp(a, c->a, full)) return 0;
  if (rest && ((a[full] ^ c->a[full]) & (0xff << (8 - rest)) & 0xff)) return 0;
  return 1;
}
