#ifndef SPFCHK_H
#define SPFCHK_H
/* spfchk.h: SPF (RFC 7208) for a tenant's sending domain
   (doc/spf-dmarc.md): the records to publish -- the tenant's
   "v=spf1 include:SPFDOMAIN ~all" and, at SPFDOMAIN, the installation's
   record listing its sending IPs -- and the check, made by libspf2, that
   the domain authorises each sending IP.

   libspf2 passes every loopback client without looking at DNS ("give
   localhost a free ride", SPF_request_query_mailfrom); a check that
   must also work for 127.0.0.x pools (tests, make run) therefore calls
   SPF_server_get_record and SPF_record_interpret itself, which is what
   that function does for every other address.  DNS goes through
   spfdns_layer (a configurable server).  libspf2's warning, info and
   debug messages are switched off: a library here does not print. */
#include <stddef.h>
#include <netinet/in.h>
#include "buf.h"

#define SPFCHK_IPS_MAX 64          /* sending IPs in one record or check */
#define SPFCHK_CHUNK 255           /* one character-string of a TXT record */
#define SPFCHK_IP_TEXT 46          /* INET6_ADDRSTRLEN */

enum spfchk_result {
  SPFCHK_PASS = 0, SPFCHK_FAIL, SPFCHK_SOFTFAIL, SPFCHK_NEUTRAL, SPFCHK_NONE,
  SPFCHK_TEMPERROR, SPFCHK_PERMERROR
};

/* The canonical text of an IPv4 or IPv6 address s into out
   (SPFCHK_IP_TEXT bytes).  4 or 6 for its family, 0 if s is none. */
int spfchk_ip(const char *s, char *out);
/* "v=spf1 include:spf_domain ~all" into out.  0 or -1. */
int spfchk_tenant_record(const char *spf_domain, struct buf *out);
/* "v=spf1 ip4:... ip6:... ~all" for ips[0..n) (canonical) into out. */
int spfchk_ips_record(char ips[][SPFCHK_IP_TEXT], size_t n, struct buf *out);
/* A zone-file line: NAME. IN TXT "..." "..." with the value cut into
   strings of at most SPFCHK_CHUNK bytes, LF-ended, appended to out. */
int spfchk_zone_line(const char *name, const char *value, struct buf *out);

struct spfchk;
/* A checker asking DNS server (0: /etc/resolv.conf); helo is the name
   our client says in EHLO (the %{h} macro).  0 or -1 ENOMEM. */
int spfchk_open(struct spfchk **c, const struct sockaddr_in *server, const char *helo);
void spfchk_close(struct spfchk *c);
/* The SPF result for mail from postmaster@domain sent from ip (text
   form), libspf2's comment on it appended to why.  A spfchk_result, or
   -1 with errno (EINVAL: ip or domain unusable; ENOMEM). */
int spfchk_check(struct spfchk *c, const char *domain, const char *ip, struct buf *why);
const char *spfchk_result_name(int result);   /* "pass", "fail", ... */
#endif
