/* dns.c: MX and address lookups through glibc's resolver (see dns.h).
   The server comes from the caller (deliver reads CMC_RESOLVER) and is set
   into the resolver state's nsaddr_list; searching and default domains are
   off: every name is asked as it is given, fully qualified. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "dns.h"

#define ANSWER_MAX 65536

struct dns {
  struct __res_state rs;
  unsigned char ans[ANSWER_MAX];
};

int dns_server_parse(const char *s, struct sockaddr_in *sa)
{
  char ip[INET_ADDRSTRLEN];
  const char *colon = strchr(s, ':');
  size_t len = colon ? (size_t)(colon - s) : strlen(s);
  unsigned long port = 53;
  memset(sa, 0, sizeof *sa);
  if (len == 0 || len >= sizeof ip) return errno = EINVAL, -1;
  memcpy(ip, s, len);
  ip[len] = 0;
  if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) return errno = EINVAL, -1;
  if (colon) {
    char *end;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
      return errno = EINVAL, -1;
  }
  sa->sin_family = AF_INET;
  sa->sin_port = htons((unsigned short)port);
  return 0;
}

int dns_open(struct dns **dp, const struct sockaddr_in *server, int timeout, int tries)
{
  struct dns *d = calloc(1, sizeof *d);
  if (!d) return errno = ENOMEM, -1;
  if (res_ninit(&d->rs) == -1) {
    free(d);
    return errno = EIO, -1;
  }
  d->rs.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
  d->rs.options |= RES_RECURSE;
  if (server) {
    d->rs.nscount = 1;
    d->rs.nsaddr_list[0] = *server;
  }
  d->rs.retrans = timeout > 0 ? timeout : DNS_TIMEOUT_DEFAULT;
  d->rs.retry = tries > 0 ? tries : DNS_TRIES_DEFAULT;
  *dp = d;
  return 0;
}

void dns_close(struct dns *d)
{
  if (!d) return;
  res_nclose(&d->rs);
  free(d);
}

/* res_nquery, its failure mapped to a DNS_* outcome; *len the answer size. */
static int query(struct dns *d, const char *name, int type, int *len)
{
  int r;
  d->rs.res_h_errno = 0;
  r = res_nquery(&d->rs, name, ns_c_in, type, d->ans, sizeof d->ans);
  if (r >= 0) {
    *len = r;
    return DNS_OK;
  }
  switch (d->rs.res_h_errno) {
  case HOST_NOT_FOUND: return DNS_NXDOMAIN;
  case NO_DATA: return DNS_NODATA;
  default: return DNS_TEMP;   /* TRY_AGAIN, NO_RECOVERY (REFUSED, FORMERR), no answer */
  }
}

static int cmp_pref(const void *a, const void *b)
{
  const struct dns_mx *x = a, *y = b;
  return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void dns_mx_sort(struct dns_mx *mx, size_t n)
{
  size_t i, j, k;
  qsort(mx, n, sizeof *mx, cmp_pref);
  /* Fisher-Yates inside each run of equal preference: spreads the load
     over equal MX hosts as RFC 5321 section 5.1 asks. */
  for (i = 0; i < n; i = j) {
    for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++) ;
    for (k = j - 1; k > i; k--) {
      size_t r = i + arc4random_uniform((uint32_t)(k - i + 1));
      struct dns_mx t = mx[k];
      mx[k] = mx[r];
      mx[r] = t;
    }
  }
}

int dns_mx(struct dns *d, const char *domain, struct dns_mx **mxp, size_t *np)
{
  ns_msg msg;
  ns_rr rr;
  struct dns_mx *mx;
  size_t n = 0, nnull = 0;
  int len, rc, i, count;
  *mxp = 0;
  *np = 0;
  rc = query(d, domain, ns_t_mx, &len);
  if (rc != DNS_OK) return rc;
  if (ns_initparse(d->ans, len, &msg) == -1) return DNS_TEMP;
  count = ns_msg_count(msg, ns_s_an);
  mx = calloc(DNS_MX_MAX, sizeof *mx);
  if (!mx) return errno = ENOMEM, -1;
  for (i = 0; i < count && n < DNS_MX_MAX; i++) {
    const unsigned char *rd;
    if (ns_parserr(&msg, ns_s_an, i, &rr) == -1) { free(mx); return DNS_TEMP; }
    if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in) continue;
    if (ns_rr_rdlen(rr) < 3) { free(mx); return DNS_TEMP; }
    rd = ns_rr_rdata(rr);
    mx[n].pref = ns_get16(rd);
    if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 2,
                           mx[n].host, sizeof mx[n].host) == -1) {
      free(mx);
      return DNS_TEMP;
    }
    len = (int)strlen(mx[n].host);
    if (len > 0 && mx[n].host[len - 1] == '.') mx[n].host[len - 1] = 0;
    if (mx[n].host[0] == 0 || strcmp(mx[n].host, ".") == 0) {
      nnull++;                  /* "." is no host: never connect to it */
      continue;
    }
    n++;
  }
  if (n == 0) {
    free(mx);
    return nnull ? DNS_NULLMX : DNS_NODATA;
  }
  dns_mx_sort(mx, n);
  *mxp = mx;
  *np = n;
  return DNS_OK;
}

/* Append the addresses of one type to ip[*n..max). */
static int addrs(struct dns *d, const char *host, int type, struct dns_ip *ip,
                 size_t max, size_t *n)
{
  ns_msg msg;
  ns_rr rr;
  int len, rc, i, count;
  size_t want = type == ns_t_a ? 4 : 16;
  rc = query(d, host, type, &len);
  if (rc != DNS_OK) return rc;
  if (ns_initparse(d->ans, len, &msg) == -1) return DNS_TEMP;
  count = ns_msg_count(msg, ns_s_an);
  for (i = 0; i < count && *n < max; i++) {
    if (ns_parserr(&msg, ns_s_an, i, &rr) == -1) return DNS_TEMP;
    if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in) continue;
    if (ns_rr_rdlen(rr) != want) return DNS_TEMP;
    ip[*n].family = type == ns_t_a ? AF_INET : AF_INET6;
    memset(ip[*n].addr, 0, sizeof ip[*n].addr);
    memcpy(ip[*n].addr, ns_rr_rdata(rr), want);
    (*n)++;
  }
  return DNS_OK;
}

int dns_ip(struct dns *d, const char *host, struct dns_ip *ip, size_t max, size_t *n)
{
  int r4, r6;
  *n = 0;
  r4 = addrs(d, host, ns_t_a, ip, max, n);
  if (r4 == DNS_NXDOMAIN) return DNS_NXDOMAIN;   /* no name, no AAAA either */
  r6 = addrs(d, host, ns_t_aaaa, ip, max, n);
  if (*n) return DNS_OK;
  if (r4 == DNS_TEMP || r6 == DNS_TEMP) return DNS_TEMP;
  return r6 == DNS_NXDOMAIN ? DNS_NXDOMAIN : DNS_NODATA;
}

int dns_ip_fmt(const struct dns_ip *ip, char *out, size_t n)
{
  if (!inet_ntop(ip->family, ip->addr, out, (socklen_t)n)) return -1;
  return 0;
}

int dns_ip_parse(const char *s, size_t len, struct dns_ip *ip)
{
  char t[INET6_ADDRSTRLEN + 2];
  if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
    s++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof t) return 0;
  memcpy(t, s, len);
  t[len] = 0;
  memset(ip, 0, sizeof *ip);
  if (inet_pton(AF_INET, t, ip->addr) == 1) {
    ip->family = AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, t, ip->addr) == 1) {
    ip->family = AF_INET6;
    return 1;
  }
  return 0;
}

const char *dns_rc_str(int rc)
{
  switch (rc) {
  case DNS_OK: return "found";
  case DNS_NXDOMAIN: return "Host not found";
  case DNS_NODATA: return "No address associated with name";
  case DNS_TEMP: return "Host not found, try again";
  case DNS_NULLMX: return "Domain does not accept mail (null MX)";
  default: return "lookup error";
  }
}
