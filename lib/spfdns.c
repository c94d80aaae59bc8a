/* spfdns.c: a libspf2 DNS layer and a TXT lookup, both asking one
   configurable server through glibc's res_nquery (see spfdns.h).  The
   answers are parsed with libresolv's ns_* functions; the layer fills
   libspf2's SPF_dns_rr_t exactly as libspf2's own SPF_dns_resolv does
   (A/AAAA as addresses, MX and PTR as names, TXT with its strings
   joined), so libspf2 cannot tell the difference. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include "spfdns.h"

#define ANSWER_MAX 65536

struct layer {
  struct __res_state rs;
  unsigned char ans[ANSWER_MAX];
};

/* A resolver state asking server.  0 or -1. */
static int rs_init(struct __res_state *rs, const struct sockaddr_in *server)
{
  memset(rs, 0, sizeof *rs);
  if (res_ninit(rs) == -1) return -1;
  rs->options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
  rs->options |= RES_RECURSE;
  if (server) {
    rs->nscount = 1;
    rs->nsaddr_list[0] = *server;
  }
  rs->retrans = SPFDNS_TIMEOUT;
  rs->retry = SPFDNS_TRIES;
  return 0;
}

/* Join the character-strings of a TXT rdata rd[0..rn) into dst, NUL-ended
   (dst has room for rn bytes: one length byte at least is not copied). */
static void txt_join(char *dst, const unsigned char *rd, size_t rn)
{
  size_t i = 0, o = 0;
  while (i < rn) {
    size_t l = rd[i++];
    if (l > rn - i) l = rn - i;
    memcpy(dst + o, rd + i, l);
    o += l;
    i += l;
  }
  dst[o] = 0;
}

static SPF_dns_rr_t *lookup(SPF_dns_server_t *d, const char *domain, ns_type type,
                            int should_cache)
{
  struct layer *l = d->hook;
  SPF_dns_rr_t *rr;
  ns_msg msg;
  ns_rr r;
  char name[NS_MAXDNAME];
  int len, i, count, cnt = 0;
  (void)should_cache;
  l->rs.res_h_errno = 0;
  len = res_nquery(&l->rs, domain, ns_c_in, type, l->ans, ANSWER_MAX);
  if (len < 0) {
    /* RFC 7208 2.6.6, 5: NXDOMAIN and "no such record" are answers; any
       other failure (time-out, SERVFAIL, REFUSED...) is a temporary error.
       glibc says NO_RECOVERY for REFUSED, which libspf2 would turn into
       permerror: TRY_AGAIN is what it takes as temperror. */
    int h = l->rs.res_h_errno;
    return SPF_dns_rr_new_init(d, domain, type, 0,
                               h == HOST_NOT_FOUND || h == NO_DATA ? h : TRY_AGAIN);
  }
  if (len > ANSWER_MAX) len = ANSWER_MAX;
  rr = SPF_dns_rr_new_init(d, domain, type, 0, NETDB_SUCCESS);
  if (!rr) return 0;
  if (ns_initparse(l->ans, len, &msg) == -1) {
    rr->herrno = TRY_AGAIN;
    return rr;
  }
  count = ns_msg_count(msg, ns_s_an);
  for (i = 0; i < count; i++) {
    const unsigned char *rd;
    size_t rn;
    if (ns_parserr(&msg, ns_s_an, i, &r) == -1) {
      rr->herrno = TRY_AGAIN;
      break;
    }
    if (ns_rr_type(r) != type || ns_rr_class(r) != ns_c_in) continue;   /* CNAMEs */
    rd = ns_rr_rdata(r);
    rn = ns_rr_rdlen(r);
    switch (type) {
    case ns_t_a:
      if (rn != 4 || SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in_addr)) != SPF_E_SUCCESS)
        continue;
      memcpy(&rr->rr[cnt++]->a, rd, 4);
      break;
    case ns_t_aaaa:
      if (rn != 16 || SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in6_addr)) != SPF_E_SUCCESS)
        continue;
      memcpy(&rr->rr[cnt++]->aaaa, rd, 16);
      break;
    case ns_t_mx:
    case ns_t_ptr:
      if (type == ns_t_mx && rn < 3) continue;
      if (ns_name_uncompress(l->ans, l->ans + len, type == ns_t_mx ? rd + 2 : rd, name,
                             sizeof name) < 0
          || SPF_dns_rr_buf_realloc(rr, cnt, strlen(name) + 1) != SPF_E_SUCCESS)
        continue;
      memcpy(type == ns_t_mx ? rr->rr[cnt]->mx : rr->rr[cnt]->ptr, name, strlen(name) + 1);
      cnt++;
      break;
    case ns_t_txt:
      if (SPF_dns_rr_buf_realloc(rr, cnt, rn + 1) != SPF_E_SUCCESS) continue;
      txt_join(rr->rr[cnt++]->txt, rd, rn);
      break;
    default:
      break;
    }
  }
  rr->num_rr = cnt;
  if (cnt == 0 && rr->herrno == NETDB_SUCCESS) rr->herrno = NO_DATA;
  return rr;
}

static void destroy(SPF_dns_server_t *d)
{
  struct layer *l = d->hook;
  if (l) {
    res_nclose(&l->rs);
    free(l);
  }
  free(d);
}

struct SPF_dns_server_struct *spfdns_layer(const struct sockaddr_in *server)
{
  SPF_dns_server_t *d = calloc(1, sizeof *d);
  struct layer *l = calloc(1, sizeof *l);
  if (!d || !l || rs_init(&l->rs, server) == -1) {
    free(d);
    free(l);
    errno = ENOMEM;
    return 0;
  }
  d->destroy = destroy;
  d->lookup = lookup;
  d->name = "cmc";
  d->hook = l;
  return d;
}

int spfdns_txt(const struct sockaddr_in *server, const char *name, struct buf *out,
               size_t *count)
{
  struct __res_state rs;
  struct buf ansb = BUF_ZERO;
  ns_msg msg;
  ns_rr r;
  int len, i, n, rc = SPFDNS_OK;
  *count = 0;
  if (buf_ready(&ansb, ANSWER_MAX) == -1) return -1;
  if (rs_init(&rs, server) == -1) {
    buf_free(&ansb);
    return SPFDNS_TEMP;
  }
  rs.res_h_errno = 0;
  len = res_nquery(&rs, name, ns_c_in, ns_t_txt, (unsigned char *)ansb.s, ANSWER_MAX);
  if (len < 0) {
    rc = rs.res_h_errno == HOST_NOT_FOUND ? SPFDNS_NXDOMAIN
         : rs.res_h_errno == NO_DATA ? SPFDNS_NODATA : SPFDNS_TEMP;
    goto out;
  }
  if (len > ANSWER_MAX) len = ANSWER_MAX;
  if (ns_initparse((unsigned char *)ansb.s, len, &msg) == -1) {
    rc = SPFDNS_TEMP;
    goto out;
  }
  n = ns_msg_count(msg, ns_s_an);
  for (i = 0; i < n && *count < SPFDNS_TXT_COUNT; i++) {
    size_t rn, start = out->len;
    if (ns_parserr(&msg, ns_s_an, i, &r) == -1) {
      rc = SPFDNS_TEMP;
      goto out;
    }
    if (ns_rr_type(r) != ns_t_txt || ns_rr_class(r) != ns_c_in) continue;
    rn = ns_rr_rdlen(r);
    if (rn > SPFDNS_TXT_MAX) continue;
    if (buf_ready(out, rn + 1) == -1) {
      rc = -1;
      goto out;
    }
    txt_join(out->s + start, ns_rr_rdata(r), rn);
    out->len = start + strlen(out->s + start) + 1;
    out->s[out->len] = 0;            /* buf.h's promise; room: rn + 1 was made */
    (*count)++;
  }
  if (*count == 0) rc = SPFDNS_NODATA;
out:
  res_nclose(&rs);
  buf_free(&ansb);
  if (rc == -1) errno = ENOMEM;
  return rc;
}
