#ifndef DNS_H
#define DNS_H
/* dns.h: the lookups deliver needs (MX, then A/AAAA), asked of one
   configurable DNS server through glibc's resolver (res_nquery), so that
   tests can run a real server on loopback.  Names are given in their
   A-label (ASCII) form; the caller converts IDNs (addr_domain_ascii).

   Every lookup returns one of the DNS_* outcomes, or -1 with errno for a
   local failure (ENOMEM).  Only NXDOMAIN and NODATA are final answers;
   SERVFAIL, REFUSED, time-outs and malformed answers are DNS_TEMP. */
#include <stddef.h>
#include <netinet/in.h>

#define DNS_NAME_MAX 255           /* a host name, dots included */
#define DNS_MX_MAX 64              /* MX records kept for one domain */
#define DNS_IP_MAX 16              /* addresses kept for one host */
#define DNS_TIMEOUT_DEFAULT 5      /* seconds per try */
#define DNS_TRIES_DEFAULT 2

enum dns_rc {
  DNS_OK = 0,
  DNS_NXDOMAIN,                    /* the name does not exist */
  DNS_NODATA,                      /* the name exists, no record of that type */
  DNS_TEMP,                        /* server failure or no answer: later */
  DNS_NULLMX                       /* RFC 7505 "MX 0 .": the domain takes no mail */
};

struct dns;
struct dns_mx {
  unsigned pref;
  char host[DNS_NAME_MAX + 1];     /* no trailing dot */
};
struct dns_ip {
  int family;                      /* AF_INET or AF_INET6 */
  unsigned char addr[16];          /* network order; 4 bytes used for AF_INET */
};

/* Parse "ip" or "ip:port" (IPv4; port default 53) into sa.  0 or -1 EINVAL. */
int dns_server_parse(const char *s, struct sockaddr_in *sa);
/* A resolver asking server (0: the servers of /etc/resolv.conf), timeout
   seconds per try, tries attempts (0 for either: the defaults above). */
int dns_open(struct dns **d, const struct sockaddr_in *server, int timeout, int tries);
void dns_close(struct dns *d);

/* MX records of domain, sorted by preference, in random order among equal
   preferences.  *mx is malloc'd (free it) and *n set when DNS_OK.
   A domain whose only MX is "." gives DNS_NULLMX. */
int dns_mx(struct dns *d, const char *domain, struct dns_mx **mx, size_t *n);
/* Addresses of host: A records first, then AAAA, at most max in all.
   DNS_OK when there is at least one; otherwise DNS_NXDOMAIN if the name
   does not exist, DNS_TEMP if either lookup failed for now, else DNS_NODATA. */
int dns_ip(struct dns *d, const char *host, struct dns_ip *ip, size_t max, size_t *n);

/* Text form of ip into out (INET6_ADDRSTRLEN bytes are enough).  0 or -1. */
int dns_ip_fmt(const struct dns_ip *ip, char *out, size_t n);
/* Parse an IPv4 or IPv6 literal (brackets allowed: "[::1]").  1 if s is
   one (ip set), 0 if not. */
int dns_ip_parse(const char *s, size_t len, struct dns_ip *ip);
/* Sort mx[0..n) by preference, shuffling equal preferences (arc4random). */
void dns_mx_sort(struct dns_mx *mx, size_t n);
const char *dns_rc_str(int rc);    /* "NXDOMAIN", "SERVFAIL or timeout", ... */
#endif
