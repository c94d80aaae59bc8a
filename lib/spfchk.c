/* spfchk.c: SPF records and checks with libspf2 (see spfchk.h,
   doc/spf-dmarc.md). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include "spfchk.h"
#include "spfdns.h"

struct spfchk {
  SPF_dns_server_t *dns;
  SPF_server_t *srv;
  char *helo;
};

static const char *const names[] = {
  "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"
};

const char *spfchk_result_name(int r)
{
  return r >= SPFCHK_PASS && r <= SPFCHK_PERMERROR ? names[r] : "unknown";
}

int spfchk_ip(const char *s, char *out)
{
  unsigned char a[16];
  if (inet_pton(AF_INET, s, a) == 1) return inet_ntop(AF_INET, a, out, SPFCHK_IP_TEXT) ? 4 : 0;
  if (inet_pton(AF_INET6, s, a) == 1) return inet_ntop(AF_INET6, a, out, SPFCHK_IP_TEXT) ? 6 : 0;
  return 0;
}

int spfchk_tenant_record(const char *spf_domain, struct buf *out)
{
  buf_trunc(out, 0);
  return buf_printf(out, "v=spf1 include:%s ~all", spf_domain);
}

int spfchk_ips_record(char ips[][SPFCHK_IP_TEXT], size_t n, struct buf *out)
{
  size_t i;
  char t[SPFCHK_IP_TEXT];
  buf_trunc(out, 0);
  if (buf_adds(out, "v=spf1") == -1) return -1;
  for (i = 0; i < n; i++) {
    int fam = spfchk_ip(ips[i], t);
    if (!fam) return errno = EINVAL, -1;
    if (buf_printf(out, " ip%d:%s", fam, t) == -1) return -1;
  }
  return buf_adds(out, " ~all");
}

int spfchk_zone_line(const char *name, const char *value, struct buf *out)
{
  size_t i, n = strlen(value);
  if (buf_printf(out, "%s. IN TXT", name) == -1) return -1;
  for (i = 0; i < n || i == 0; i += SPFCHK_CHUNK) {
    size_t l = n - i < SPFCHK_CHUNK ? n - i : SPFCHK_CHUNK;
    if (buf_printf(out, " \"%.*s\"", (int)l, value + i) == -1) return -1;
    if (n == 0) break;
  }
  return buf_addc(out, '\n');
}

int spfchk_open(struct spfchk **cp, const struct sockaddr_in *server, const char *helo)
{
  struct spfchk *c = calloc(1, sizeof *c);
  *cp = 0;
  if (!c) return errno = ENOMEM, -1;
  /* Quiet: only SPF_error (an internal assertion; it aborts) stays. */
  SPF_warning_handler = 0;
  SPF_info_handler = 0;
  SPF_debug_handler = 0;
  if (!(c->helo = strdup(helo && *helo ? helo : "localhost"))
      || !(c->dns = spfdns_layer(server)) || !(c->srv = SPF_server_new_dns(c->dns, 0))
      || SPF_server_set_rec_dom(c->srv, c->helo) != SPF_E_SUCCESS) {
    spfchk_close(c);
    return errno = ENOMEM, -1;
  }
  *cp = c;
  return 0;
}

void spfchk_close(struct spfchk *c)
{
  if (!c) return;
  if (c->srv) SPF_server_free(c->srv);   /* not ours: SPF_server_new_dns keeps the layer */
  if (c->dns) SPF_dns_free(c->dns);
  free(c->helo);
  free(c);
}

static int result_of(SPF_result_t r)
{
  switch (r) {
  case SPF_RESULT_PASS: return SPFCHK_PASS;
  case SPF_RESULT_FAIL: return SPFCHK_FAIL;
  case SPF_RESULT_SOFTFAIL: return SPFCHK_SOFTFAIL;
  case SPF_RESULT_NEUTRAL: return SPFCHK_NEUTRAL;
  case SPF_RESULT_NONE: return SPFCHK_NONE;
  case SPF_RESULT_TEMPERROR: return SPFCHK_TEMPERROR;
  default: return SPFCHK_PERMERROR;
  }
}

int spfchk_check(struct spfchk *c, const char *domain, const char *ip, struct buf *why)
{
  SPF_request_t *req;
  SPF_response_t *resp;
  SPF_record_t *rec = 0;
  SPF_errcode_t err;
  char t[SPFCHK_IP_TEXT];
  const char *comment;
  int fam = spfchk_ip(ip, t), r;
  if (!fam || !*domain || strchr(domain, '@')) return errno = EINVAL, -1;
  if (!(req = SPF_request_new(c->srv))) return errno = ENOMEM, -1;
  if ((fam == 4 ? SPF_request_set_ipv4_str(req, t) : SPF_request_set_ipv6_str(req, t)) != SPF_E_SUCCESS
      || SPF_request_set_helo_dom(req, c->helo) != SPF_E_SUCCESS
      || SPF_request_set_env_from(req, domain) != SPF_E_SUCCESS
      || !(resp = SPF_response_new(req))) {
    SPF_request_free(req);
    return errno = ENOMEM, -1;
  }
  /* SPF_request_query_mailfrom without its loopback shortcut (spfchk.h). */
  req->cur_dom = req->env_from_dp;
  err = SPF_server_get_record(c->srv, req, resp, &rec);
  if (err == SPF_E_SUCCESS && rec) {
    resp->spf_record_exp = rec;
    err = SPF_record_interpret(rec, req, resp, 0);
    resp->spf_record_exp = 0;
    SPF_record_free(rec);
  } else if (rec) {
    SPF_record_free(rec);
  }
  /* A failed lookup of the domain's own record leaves the result unset
     (libspf2 returns SPF_E_DNS_ERROR and sets nothing): that is temperror
     (RFC 7208 4.4); any other error there, permerror. */
  if (SPF_response_result(resp) == SPF_RESULT_INVALID)
    r = err == SPF_E_DNS_ERROR ? SPFCHK_TEMPERROR : SPFCHK_PERMERROR;
  else
    r = result_of(SPF_response_result(resp));
  comment = SPF_response_get_header_comment(resp);
  if (comment && *comment) buf_adds(why, comment);
  else buf_adds(why, SPF_strreason(SPF_response_reason(resp)));
  if (err != SPF_E_SUCCESS && SPF_response_result(resp) != SPF_RESULT_NONE)
    buf_printf(why, " (%s)", SPF_strerror(err));
  SPF_response_free(resp);
  SPF_request_free(req);
  return r;
}
