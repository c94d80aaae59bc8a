/* unit-cidr: lib/cidr.c: IPv4 and IPv6 ranges parsed (host bits
   cleared, bad prefixes and mapped ranges refused), printed in canonical
   form, and matched, with v4-mapped addresses taken as IPv4. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include "tap.h"
#include "cidr.h"

static const char *canon(const char *s)
{
  static char out[CIDR_MAX];
  struct cidr c;
  if (cidr_parse(s, &c) == -1 || cidr_format(&c, out, sizeof out) == -1) return "ERR";
  return out;
}

static int in(const char *range, const char *ip)
{
  struct cidr c;
  unsigned char a[16];
  int family;
  if (cidr_parse(range, &c) == -1 || cidr_addr(ip, &family, a) == -1) return -1;
  return cidr_match(&c, family, a);
}

int main(void)
{
  char small[8];
  struct cidr c;
  plan(10);
  ok(!strcmp(canon("192.0.2.77/24"), "192.0.2.0/24") && !strcmp(canon("198.51.100.7"), "198.51.100.7/32"),
     "v4: host bits cleared, a single address is /32");
  ok(!strcmp(canon("2001:DB8:1::ff/48"), "2001:db8:1::/48") && !strcmp(canon("::1"), "::1/128"),
     "v6: canonical, lower case");
  ok(!strcmp(canon("10.0.0.0/33"), "ERR") && !strcmp(canon("10.0.0.300"), "ERR")
     && !strcmp(canon("10.0.0.0/"), "ERR") && !strcmp(canon("10.0.0.0/+8"), "ERR") && !strcmp(canon(""), "ERR"),
     "bad prefixes and addresses refused");
  ok(cidr_parse("::ffff:192.0.2.0/120", &c) == -1 && errno == EINVAL, "no v4-mapped ranges");
  ok(in("192.0.2.0/25", "192.0.2.127") == 1 && in("192.0.2.0/25", "192.0.2.128") == 0, "v4 match at the edge");
  ok(in("192.0.2.0/23", "192.0.3.255") == 1 && in("192.0.2.0/23", "192.0.4.0") == 0, "prefix not a multiple of 8");
  ok(in("198.51.100.7", "::ffff:198.51.100.7") == 1, "v4-mapped address matches a v4 range");
  ok(in("2001:db8::/32", "2001:db8:ffff::1") == 1 && in("2001:db8::/32", "192.0.2.1") == 0
     && in("0.0.0.0/0", "::1") == 0, "families never mix");
  ok(in("0.0.0.0/0", "203.0.113.9") == 1 && in("::/0", "2001:db8::1") == 1, "/0 matches its family");
  ok(cidr_parse("2001:db8::/32", &c) == 0 && cidr_format(&c, small, sizeof small) == -1 && errno == ENAMETOOLONG,
     "short output buffer: ENAMETOOLONG");
  return done();
}
