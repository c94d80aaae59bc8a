/* dkimdns.c: DKIM key records in DNS (see dkimdns.h).  The TXT answer is
   parsed with libresolv's ns_* functions; the record's tag list (RFC 6376
   3.6.1) is read here: only v=, k= and p= matter for the comparison. */
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <string.h>
#include "dkimdns.h"

#define ANSWER_MAX 65536
#define TIMEOUT 5                   /* seconds per try */
#define TRIES 2

static int is_wsp(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Value of tag in the tag list txt[0..n): 1 found (*v, *vn, white space
   around it trimmed), 0 absent. */
static int tag(const char *txt, size_t n, const char *name, const char **v, size_t *vn)
{
  size_t i = 0, nl = strlen(name);
  while (i < n) {
    const char *semi = memchr(txt + i, ';', n - i);
    size_t end = semi ? (size_t)(semi - txt) : n, a = i, b;
    const char *eq;
    while (a < end && is_wsp(txt[a])) a++;
    eq = memchr(txt + a, '=', end - a);
    if (eq) {
      b = (size_t)(eq - txt);
      while (b > a && is_wsp(txt[b - 1])) b--;
      if (b - a == nl && !memcmp(txt + a, name, nl)) {
        size_t c = (size_t)(eq - txt) + 1, d = end;
        while (c < d && is_wsp(txt[c])) c++;
        while (d > c && is_wsp(txt[d - 1])) d--;
        *v = txt + c;
        *vn = d - c;
        return 1;
      }
    }
    i = end + 1;
  }
  return 0;
}

int dkimdns_compare(const char *txt, size_t n, const struct dkimkey *k, struct buf *why)
{
  const char *v, *alg = dkimkey_alg_name(k->alg);
  size_t vn, i, j, pl = strlen(k->pub);
  int has_v = tag(txt, n, "v", &v, &vn);
  if (has_v && !(vn == 5 && !memcmp(v, "DKIM1", 5))) return DKIMDNS_ABSENT;
  if (!tag(txt, n, "p", &v, &vn)) return DKIMDNS_ABSENT;
  if (vn == 0) {
    buf_adds(why, "the published key is revoked (empty p=)");
    return DKIMDNS_MISMATCH;
  }
  /* p= may be split by white space where the strings were joined. */
  for (i = j = 0; i < vn; i++) {
    if (is_wsp(v[i])) continue;
    if (j >= pl || v[i] != k->pub[j]) break;
    j++;
  }
  if (i < vn || j != pl) {
    buf_adds(why, "the published p= is another key");
    return DKIMDNS_MISMATCH;
  }
  if (!tag(txt, n, "k", &v, &vn)) {
    v = "rsa";
    vn = 3;
  }
  if (vn != strlen(alg) || memcmp(v, alg, vn)) {
    buf_printf(why, "the published k=%.*s is not %s", (int)(vn < 32 ? vn : 32), v, alg);
    return DKIMDNS_MISMATCH;
  }
  return DKIMDNS_MATCH;
}

/* Join the character-strings of one TXT rdata into out. */
static int txt_join(const unsigned char *rd, size_t rn, struct buf *out)
{
  size_t i = 0;
  buf_trunc(out, 0);
  while (i < rn) {
    size_t l = rd[i++];
    if (l > rn - i) return errno = EINVAL, -1;
    if (out->len + l > DKIMDNS_TXT_MAX) return errno = EINVAL, -1;
    if (buf_add(out, rd + i, l) == -1) return -1;
    i += l;
  }
  return buf_add(out, "", 0);
}

int dkimdns_check(const struct sockaddr_in *server, const struct dkimkey *k, struct buf *why)
{
  struct __res_state rs;
  struct buf name = BUF_ZERO, val = BUF_ZERO, txt = BUF_ZERO, reason = BUF_ZERO;
  struct buf ansb = BUF_ZERO, one = BUF_ZERO;
  unsigned char *ans;
  ns_msg msg;
  ns_rr rr;
  int len, i, count, rc = DKIMDNS_ABSENT, ndkim = 0;
  memset(&rs, 0, sizeof rs);
  if (dkimkey_record(k, &name, &val) == -1 || buf_ready(&ansb, ANSWER_MAX) == -1) goto nomem;
  ans = (unsigned char *)ansb.s;
  if (res_ninit(&rs) == -1) {
    buf_adds(why, "unable to initialise the resolver");
    rc = DKIMDNS_TEMP;
    goto out;
  }
  rs.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
  rs.options |= RES_RECURSE;
  if (server) {
    rs.nscount = 1;
    rs.nsaddr_list[0] = *server;
  }
  rs.retrans = TIMEOUT;
  rs.retry = TRIES;
  rs.res_h_errno = 0;
  len = res_nquery(&rs, name.s, ns_c_in, ns_t_txt, ans, ANSWER_MAX);
  if (len < 0) {
    if (rs.res_h_errno == HOST_NOT_FOUND) buf_adds(why, "no such name");
    else if (rs.res_h_errno == NO_DATA) buf_adds(why, "no TXT record");
    else {
      buf_adds(why, "no answer (SERVFAIL, REFUSED or time-out)");
      rc = DKIMDNS_TEMP;
    }
    goto closed;
  }
  if (ns_initparse(ans, len, &msg) == -1) {
    buf_adds(why, "malformed answer");
    rc = DKIMDNS_TEMP;
    goto closed;
  }
  count = ns_msg_count(msg, ns_s_an);
  for (i = 0; i < count; i++) {
    int c;
    if (ns_parserr(&msg, ns_s_an, i, &rr) == -1) {
      buf_adds(why, "malformed answer");
      rc = DKIMDNS_TEMP;
      goto closed;
    }
    if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in) continue;
    if (txt_join(ns_rr_rdata(rr), ns_rr_rdlen(rr), &txt) == -1) {
      if (errno == ENOMEM) goto nomem_closed;
      continue;
    }
    buf_trunc(&one, 0);
    c = dkimdns_compare(txt.s, txt.len, k, &one);
    if (c == DKIMDNS_MATCH) {
      rc = DKIMDNS_MATCH;
      break;
    }
    if (c == DKIMDNS_MISMATCH) {
      ndkim++;
      if (buf_set(&reason, one.s, one.len) == -1) goto nomem_closed;
    }
  }
  if (rc == DKIMDNS_MATCH) buf_adds(why, "the published record holds this key");
  else if (ndkim) {
    rc = DKIMDNS_MISMATCH;
    buf_adds(why, reason.s ? reason.s : "another key");
  } else {
    buf_adds(why, "no DKIM key record there");
  }
closed:
  res_nclose(&rs);
out:
  buf_free(&name);
  buf_free(&val);
  buf_free(&txt);
  buf_free(&reason);
  buf_free(&one);
  buf_free(&ansb);
  return rc;
nomem_closed:
  res_nclose(&rs);
nomem:
  rc = -1;
  errno = ENOMEM;
  goto out;
}
