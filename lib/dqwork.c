/* dqwork.c: one delivery attempt to one destination (see dqwork.h).
   Host order: route host, or MX hosts by preference (random among equals),
   or the domain itself when it has no MX; for each host its A then AAAA
   addresses.  The first address that greets us and answers EHLO gets every
   message of the job.  A message's recipients get their results from the
   reply that decided them (dq_classify); when no host could be reached
   they all get the last connection or DNS error, deferred unless DNS said
   the domain does not exist. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "dns.h"
#include "dqwork.h"
#include "envelope.h"
#include "event.h"
#include "io.h"
#include "smtpc.h"
#include "spool.h"

struct sess {
  const struct dqwork_cfg *cfg;
  struct smtpc c;
  int out;
  char host[DNS_NAME_MAX + 1];
  char remote[DNS_NAME_MAX + 64];    /* "host [ip]" */
  struct buf lines;                  /* results not yet written */
  int werr;                          /* writing results failed */
};

static void emit(struct sess *s, const struct dq_msg *m, size_t idx, int kind,
                 int err, const char *reply, int connected)
{
  struct dq_result r;
  r.id = m->id;
  r.idx = idx;
  r.kind = (char)kind;
  r.err = kind == DQ_FAILED ? err : 0;
  r.remote = connected ? s->remote : "";
  r.local_ip = connected ? s->c.local_ip : "";
  r.reply = reply;
  if (dq_result_put(&s->lines, &r) == -1) s->werr = 1;
}

static void flush(struct sess *s)
{
  if (s->lines.len && write_all(s->out, s->lines.s, s->lines.len) == -1) s->werr = 1;
  buf_trunc(&s->lines, 0);
}

/* Text for an I/O failure during a stage of the dialogue. */
static void io_text(struct sess *s, int e, const char *stage, struct buf *out)
{
  buf_trunc(out, 0);
  if (e == ETIMEDOUT)
    buf_printf(out, "conversation with %s timed out while %s", s->remote, stage);
  else if (e == EPROTO || e == EMSGSIZE)
    buf_printf(out, "malformed reply from %s while %s", s->remote, stage);
  else
    buf_printf(out, "lost connection with %s while %s", s->remote, stage);
}

static void reply_text(struct sess *s, struct buf *out)
{
  buf_trunc(out, 0);
  smtpc_reply_text(&s->c, out);
}

/* Address as a server without SMTPUTF8 can take it: the domain in A-label
   form; a UTF-8 local part cannot be.  0, 1 impossible, -1 ENOMEM. */
static int ascii_addr(const char *a, struct buf *out)
{
  const char *at = strrchr(a, '@');
  size_t i;
  buf_trunc(out, 0);
  if (!at) return buf_adds(out, a) == -1 ? -1 : 0;       /* null sender */
  for (i = 0; a + i < at; i++)
    if ((unsigned char)a[i] >= 0x80) return 1;
  if (buf_add(out, a, (size_t)(at - a) + 1) == -1) return -1;
  if (addr_domain_ascii(out, at + 1) == -1) return errno == ENOMEM ? -1 : 1;
  return 0;
}

/* One message over the open session.  0, or -1 when the connection is gone
   (every recipient of the item has its result either way). */
static int item_send(struct sess *s, const struct dqwork_item *it)
{
  const struct dq_msg *m = it->m;
  struct buf file = BUF_ZERO, cmd = BUF_ZERO, txt = BUF_ZERO, a = BUF_ZERO;
  struct envelope e;
  char done[DQWORK_RCPT_MAX] = { 0 }, acc[DQWORK_RCPT_MAX] = { 0 };
  size_t off = 0, i, nsent = 0, nacc = 0, msglen;
  int need_utf8, utf8_ok = (s->c.ext & SMTPC_EXT_SMTPUTF8) != 0, pipe;
  int code, mail_code = 0, mail_kind = 0, mail_err = 0, data_code = 0, r = -1, k, err;
  const char *stage = "sending MAIL FROM";
  char path[4096];
  memset(&e, 0, sizeof e);
  pipe = (s->c.ext & SMTPC_EXT_PIPELINING) != 0;
  if (snprintf(path, sizeof path, "%s/queue/%s", s->cfg->spooldir, m->id) >= (int)sizeof path
      || spool_read(path, &file, &e, &off) == -1) {
    buf_printf(&txt, "unable to read queue file %s: %s", m->id, strerror(errno));
    for (i = 0; i < it->n; i++) emit(s, m, it->idx[i], DQ_DEFERRED, 0, txt.s, 0);
    r = 0;
    goto out;
  }
  msglen = file.len - off;
  need_utf8 = m->is_smtputf8 || addr_is_utf8(m->sender);
  for (i = 0; i < it->n; i++) need_utf8 |= addr_is_utf8(m->r[it->idx[i]].addr);
  if (s->c.size_max && msglen > s->c.size_max) {
    buf_printf(&txt, "message size %zu exceeds size limit %llu of server %s",
               msglen, s->c.size_max, s->remote);
    for (i = 0; i < it->n; i++) emit(s, m, it->idx[i], DQ_FAILED, ERR_TOO_LARGE, txt.s, 1);
    r = 0;
    goto out;
  }
  /* MAIL FROM.  Without SMTPUTF8 at the server, addresses go in ASCII form
     and the message as 8-bit; an address that has no ASCII form fails. */
  k = need_utf8 && !utf8_ok ? ascii_addr(m->sender, &a) : (buf_set(&a, m->sender, strlen(m->sender)), 0);
  if (k == -1) goto nomem;
  if (k == 1) {
    buf_printf(&txt, "SMTPUTF8 is required for sender %s, but was not offered by host %s",
               m->sender, s->remote);
    for (i = 0; i < it->n; i++) emit(s, m, it->idx[i], DQ_FAILED, ERR_BAD_ADDRESS, txt.s, 1);
    r = 0;
    goto out;
  }
  if (buf_printf(&cmd, "MAIL FROM:<%s>", a.s) == -1) goto nomem;
  if (m->is_8bitmime && (s->c.ext & SMTPC_EXT_8BITMIME) && buf_adds(&cmd, " BODY=8BITMIME") == -1) goto nomem;
  if (need_utf8 && utf8_ok && buf_adds(&cmd, " SMTPUTF8") == -1) goto nomem;
  if ((s->c.ext & SMTPC_EXT_SIZE) && buf_printf(&cmd, " SIZE=%zu", msglen) == -1) goto nomem;
  if (buf_adds(&cmd, "\r\n") == -1) goto nomem;
  if (!pipe) {
    if (smtpc_put(&s->c, cmd.s, cmd.len) == -1 || (mail_code = smtpc_reply(&s->c)) == -1) goto lost;
    buf_trunc(&cmd, 0);
    mail_kind = dq_classify(mail_code, s->c.reply.s, &mail_err);
    if (mail_kind != DQ_SUCCEEDED) reply_text(s, &txt);
  }
  /* RCPT TO, each checked the same way. */
  for (i = 0; i < it->n; i++) {
    const char *rc = m->r[it->idx[i]].addr;
    k = need_utf8 && !utf8_ok ? ascii_addr(rc, &a) : (buf_set(&a, rc, strlen(rc)), 0);
    if (k == -1) goto nomem;
    if (k == 1) {
      struct buf t = BUF_ZERO;
      buf_printf(&t, "SMTPUTF8 is required for recipient %s, but was not offered by host %s",
                 rc, s->remote);
      emit(s, m, it->idx[i], DQ_FAILED, ERR_BAD_ADDRESS, t.s ? t.s : "", 1);
      buf_free(&t);
      done[i] = 1;
      continue;
    }
    if (!pipe && mail_kind != DQ_SUCCEEDED) continue;
    if (buf_printf(&cmd, "RCPT TO:<%s>\r\n", a.s) == -1) goto nomem;
    nsent++;
    if (pipe) continue;
    stage = "sending RCPT TO";
    if (smtpc_put(&s->c, cmd.s, cmd.len) == -1 || (code = smtpc_reply(&s->c)) == -1) goto lost;
    buf_trunc(&cmd, 0);
    if ((k = dq_classify(code, s->c.reply.s, &err)) == DQ_SUCCEEDED) { acc[i] = 1; nacc++; continue; }
    reply_text(s, &txt);
    emit(s, m, it->idx[i], k, err, txt.s, 1);
    done[i] = 1;
  }
  if (nsent == 0) {
    /* Every recipient failed before its RCPT: with PIPELINING nothing was
       sent yet; otherwise an accepted MAIL leaves a transaction to reset. */
    r = 0;
    if (pipe) goto out;
    if (mail_kind == DQ_SUCCEEDED) goto rset;
  }
  if (pipe) {
    /* RFC 2920: MAIL, every RCPT and DATA in one write, replies in order. */
    if (buf_adds(&cmd, "DATA\r\n") == -1) goto nomem;
    if (smtpc_put(&s->c, cmd.s, cmd.len) == -1) goto lost;
    if ((mail_code = smtpc_reply(&s->c)) == -1) goto lost;
    mail_kind = dq_classify(mail_code, s->c.reply.s, &mail_err);
    if (mail_kind != DQ_SUCCEEDED) reply_text(s, &txt);
    stage = "sending RCPT TO";
    for (i = 0; i < it->n; i++) {
      if (done[i]) continue;
      if ((code = smtpc_reply(&s->c)) == -1) goto lost;
      if (mail_kind != DQ_SUCCEEDED) continue;
      if ((k = dq_classify(code, s->c.reply.s, &err)) == DQ_SUCCEEDED) { acc[i] = 1; nacc++; continue; }
      {
        struct buf t = BUF_ZERO;
        smtpc_reply_text(&s->c, &t);
        emit(s, m, it->idx[i], k, err, t.s ? t.s : "", 1);
        buf_free(&t);
      }
      done[i] = 1;
    }
    stage = "sending DATA";
    if ((data_code = smtpc_reply(&s->c)) == -1) goto lost;
  }
  if (mail_kind != DQ_SUCCEEDED) {
    for (i = 0; i < it->n; i++)
      if (!done[i]) { emit(s, m, it->idx[i], mail_kind, mail_err, txt.s, 1); done[i] = 1; }
    if (data_code == 354 && (smtpc_data(&s->c, "", 0) == -1 || smtpc_reply(&s->c) == -1)) goto lost;
    goto rset;
  }
  if (nacc == 0) {
    if (data_code == 354 && (smtpc_data(&s->c, "", 0) == -1 || smtpc_reply(&s->c) == -1)) goto lost;
    goto rset;
  }
  stage = "sending DATA";
  if (!pipe && (data_code = smtpc_cmd(&s->c, "DATA")) == -1) goto lost;
  if (data_code != 354) {
    k = dq_classify(data_code, s->c.reply.s, &err);
    if (k == DQ_SUCCEEDED) k = DQ_DEFERRED;      /* 2xx to DATA is no answer */
    reply_text(s, &txt);
    for (i = 0; i < it->n; i++)
      if (acc[i]) { emit(s, m, it->idx[i], k, err, txt.s, 1); done[i] = 1; }
    goto rset;
  }
  stage = "sending message body";
  if (smtpc_data(&s->c, file.s + off, msglen) == -1) goto lost;
  stage = "waiting for the reply to the end of data";
  if ((code = smtpc_reply(&s->c)) == -1) goto lost;
  k = dq_classify(code, s->c.reply.s, &err);
  reply_text(s, &txt);
  for (i = 0; i < it->n; i++)
    if (acc[i]) { emit(s, m, it->idx[i], k, err, txt.s, 1); done[i] = 1; }
  r = 0;
  if (k == DQ_SUCCEEDED) goto out;
rset:
  r = 0;
  stage = "sending RSET";
  if (smtpc_cmd(&s->c, "RSET") == -1) r = -1;   /* results are in; the next item sees it */
  goto out;
lost:
  io_text(s, errno, stage, &txt);
  for (i = 0; i < it->n; i++)
    if (!done[i]) emit(s, m, it->idx[i], DQ_DEFERRED, 0, txt.s, 1);
  r = -1;
  goto out;
nomem:
  for (i = 0; i < it->n; i++)
    if (!done[i]) emit(s, m, it->idx[i], DQ_DEFERRED, 0, "out of memory", 0);
  r = -1;
out:
  if (e.rcpt) envelope_free(&e);
  buf_free(&file);
  buf_free(&cmd);
  buf_free(&txt);
  buf_free(&a);
  flush(s);
  return r;
}

/* Connect to ip and get as far as MAIL.  0 ready; -1 failed, reason in
   why (*perm set for a 5xx); -2 the TLS handshake failed. */
static int sess_open(struct sess *s, const struct dns_ip *ip, unsigned port, int use_tls,
                     struct buf *why, int *perm)
{
  struct sockaddr_storage ss;
  socklen_t len;
  char ipt[INET6_ADDRSTRLEN];
  const char *stage = "receiving the initial server greeting";
  int code, err;
  *perm = 0;
  memset(&ss, 0, sizeof ss);
  if (ip->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((unsigned short)port);
    memcpy(&sin->sin_addr, ip->addr, 4);
    len = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((unsigned short)port);
    memcpy(&sin6->sin6_addr, ip->addr, 16);
    len = sizeof *sin6;
  }
  if (dns_ip_fmt(ip, ipt, sizeof ipt) == -1) ipt[0] = 0;
  snprintf(s->remote, sizeof s->remote, "%s [%s]", s->host, ipt);
  smtpc_init(&s->c, s->cfg->timeout);
  if (smtpc_connect(&s->c, (struct sockaddr *)&ss, len, s->cfg->connect_timeout) == -1) {
    buf_trunc(why, 0);
    buf_printf(why, "connect to %s [%s]:%u: %s", s->host, ipt, port, strerror(errno));
    return -1;
  }
  if ((code = smtpc_reply(&s->c)) == -1) goto lost;
  if (code < 200 || code > 299) goto refused;
  stage = "sending EHLO";
  if ((code = smtpc_ehlo(&s->c, s->cfg->helo)) == -1) goto lost;
  if (code < 200 || code > 299) goto refused;
  if (use_tls && s->cfg->tls_ctx && (s->c.ext & SMTPC_EXT_STARTTLS)) {
    stage = "sending STARTTLS";
    code = smtpc_starttls(&s->c, s->cfg->tls_ctx, s->host);
    if (code == -1 && errno == EPROTO) {
      smtpc_close(&s->c);
      return -2;
    }
    if (code == -1) goto lost;
    if (code == 220) {
      stage = "sending EHLO after STARTTLS";
      if ((code = smtpc_ehlo(&s->c, s->cfg->helo)) == -1) goto lost;
      if (code < 200 || code > 299) goto refused;
    }
  }
  return 0;
lost:
  io_text(s, errno, stage, why);
  smtpc_close(&s->c);
  return -1;
refused:
  reply_text(s, why);
  *perm = dq_classify(code, s->c.reply.s, &err) == DQ_FAILED;
  smtpc_quit(&s->c);
  return -1;
}

/* Deliver the items from start on over one session.  The index of the
   first item not tried (the connection was lost before it), or nitem. */
static size_t sess_run(struct sess *s, const struct dqwork_job *job, size_t start)
{
  size_t i;
  for (i = start; i < job->nitem; i++)
    if (item_send(s, &job->item[i]) == -1) {
      smtpc_close(&s->c);
      return i + 1;
    }
  smtpc_quit(&s->c);
  return job->nitem;
}

/* Items from start on get one outcome (no host could take them). */
static void all(struct sess *s, const struct dqwork_job *job, size_t start,
                int kind, int err, const char *why, int connected)
{
  size_t i, j;
  for (i = start; i < job->nitem; i++) {
    for (j = 0; j < job->item[i].n; j++)
      emit(s, job->item[i].m, job->item[i].idx[j], kind, err, why, connected);
    flush(s);
  }
}

int dqwork_route_parse(const char *route, char *host, size_t hostn,
                       unsigned *port, unsigned defport)
{
  const char *p = route, *end, *colon = 0;
  size_t n;
  if (*p == '[') {
    end = strchr(p, ']');
    if (!end) return errno = EINVAL, -1;
    p++;
    n = (size_t)(end - p);
    if (end[1] == ':') colon = end + 1;
    else if (end[1]) return errno = EINVAL, -1;
  } else {
    colon = strchr(p, ':');
    if (colon && strchr(colon + 1, ':')) return errno = EINVAL, -1;   /* bare IPv6 */
    n = colon ? (size_t)(colon - p) : strlen(p);
  }
  if (n == 0 || n >= hostn) return errno = EINVAL, -1;
  memcpy(host, p, n);
  host[n] = 0;
  *port = defport;
  if (colon) {
    char *e;
    unsigned long v;
    errno = 0;
    v = strtoul(colon + 1, &e, 10);
    if (errno || e == colon + 1 || *e || v == 0 || v > 65535) return errno = EINVAL, -1;
    *port = (unsigned)v;
  }
  return 0;
}

int dqwork_run(const struct dqwork_cfg *cfg, const struct dqwork_job *job, int out)
{
  struct sess s;
  struct dns *d = 0;
  struct dns_mx *mx = 0, one;
  size_t nmx = 0, h;
  struct buf why = BUF_ZERO;
  unsigned port = cfg->port;
  int rc, last_perm = 0, dns_perm = !job->is_route, kind, err = 0;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.out = out;
  s.c.fd = -1;
  memset(&one, 0, sizeof one);
  if (job->is_route) {
    if (dqwork_route_parse(job->dest, one.host, sizeof one.host, &port, cfg->port) == -1) {
      buf_printf(&why, "bad route %s", job->dest);
      all(&s, job, 0, DQ_DEFERRED, 0, why.s, 0);
      goto done;
    }
    mx = &one;
    nmx = 1;
  } else if (dns_ip_parse(job->dest, strlen(job->dest), &(struct dns_ip){ 0, { 0 } })) {
    /* An address literal domain: user@[192.0.2.1]. */
    if (dqwork_route_parse(job->dest, one.host, sizeof one.host, &port, cfg->port) == -1) goto bad;
    port = cfg->port;
    mx = &one;
    nmx = 1;
  }
  if (dns_open(&d, cfg->resolver, 0, 0) == -1) {
    buf_printf(&why, "unable to start the resolver: %s", strerror(errno));
    all(&s, job, 0, DQ_DEFERRED, 0, why.s, 0);
    goto done;
  }
  if (!mx) {
    rc = dns_mx(d, job->dest, &mx, &nmx);
    if (rc == -1) goto bad;
    if (rc == DNS_NODATA) {
      /* No MX: the domain is its own mail host (RFC 5321 5.1). */
      snprintf(one.host, sizeof one.host, "%s", job->dest);
      mx = &one;
      nmx = 1;
    } else if (rc != DNS_OK) {
      buf_printf(&why, "Host or domain name not found. Name service error for name=%s type=MX: %s",
                 job->dest, dns_rc_str(rc));
      if (rc == DNS_NXDOMAIN) all(&s, job, 0, DQ_FAILED, ERR_HOST_UNKNOWN, why.s, 0);
      else if (rc == DNS_NULLMX) all(&s, job, 0, DQ_FAILED, ERR_SERVER_CONFIG, why.s, 0);
      else all(&s, job, 0, DQ_DEFERRED, 0, why.s, 0);
      mx = 0;
      goto done;
    }
  }
  for (h = 0; h < nmx; h++) {
    struct dns_ip ip[DNS_IP_MAX];
    size_t nip = 0, i;
    snprintf(s.host, sizeof s.host, "%s", mx[h].host);
    if (dns_ip_parse(mx[h].host, strlen(mx[h].host), &ip[0])) {
      nip = 1;
    } else {
      rc = dns_ip(d, mx[h].host, ip, DNS_IP_MAX, &nip);
      if (rc == -1) goto bad;
      if (rc != DNS_OK) {
        buf_trunc(&why, 0);
        buf_printf(&why, "Host or domain name not found. Name service error for name=%s type=A: %s",
                   mx[h].host, dns_rc_str(rc));
        if (rc == DNS_TEMP) dns_perm = 0;
        last_perm = 0;
        continue;
      }
    }
    dns_perm = 0;
    for (i = 0; i < nip; i++) {
      int perm, tls = 1, k = sess_open(&s, &ip[i], port, tls, &why, &perm);
      if (k == -2) k = sess_open(&s, &ip[i], port, tls = 0, &why, &perm);  /* TLS broken: plain */
      if (k == 0) {
        /* A lost connection costs the message it happened in; the items
           after it get a new connection (a few times). */
        size_t next = 0, again = 0;
        while ((next = sess_run(&s, job, next)) < job->nitem) {
          if (again++ == DQWORK_RECONNECT_MAX
              || sess_open(&s, &ip[i], port, tls, &why, &perm) != 0) {
            if (again > DQWORK_RECONNECT_MAX) {
              buf_trunc(&why, 0);
              buf_printf(&why, "lost connection with %s", s.remote);
            }
            all(&s, job, next, DQ_DEFERRED, 0, why.s, 1);
            break;
          }
        }
        goto done;
      }
      last_perm = perm;
    }
  }
  /* Nobody took the mail.  Permanent only when DNS says the hosts do not
     exist, or the last server refused us with a 5xx. */
  if (!why.len) buf_adds(&why, "no mail host for the destination");
  kind = DQ_DEFERRED;
  if (dns_perm) { kind = DQ_FAILED; err = ERR_HOST_UNKNOWN; }
  else if (last_perm) { kind = DQ_FAILED; err = ERR_OTHER; }
  all(&s, job, 0, kind, err, why.s, 0);
  goto done;
bad:
  all(&s, job, 0, DQ_DEFERRED, 0, "out of memory", 0);
done:
  if (mx && mx != &one) free(mx);
  dns_close(d);
  buf_free(&why);
  buf_free(&s.lines);
  if (s.werr) return errno = EPIPE, -1;
  return 0;
}
