#ifndef CIDR_H
#define CIDR_H
/* cidr.h: IPv4 and IPv6 address ranges (ADDR or ADDR/PREFIX), as the
   relay networks of tenant.h and the access snapshot (access.h) hold
   them.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is IPv4.
   Functions return 0, or -1 with errno (EINVAL, ENAMETOOLONG). */
#include <stddef.h>

#define CIDR_MAX 64                  /* text form, with the prefix */

struct cidr {
  int family;                        /* AF_INET or AF_INET6 */
  unsigned char a[16];
  unsigned prefix;
};

/* An address in text form into family and a (4 or 16 bytes). */
int cidr_addr(const char *s, int *family, unsigned char *a);
/* "ADDR" or "ADDR/PREFIX"; host bits are cleared.  No mapped ranges. */
int cidr_parse(const char *s, struct cidr *c);
/* The canonical form ADDR/PREFIX into out. */
int cidr_format(const struct cidr *c, char *out, size_t n);
/* 1 if the address family/a is in c, else 0. */
int cidr_match(const struct cidr *c, int family, const unsigned char *a);
#endif
