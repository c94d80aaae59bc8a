/* dqwork.c: one delivery attempt to one destination (see dqwork.h).
   Host order: route host, or MX hosts by preference (random among equals),
   or the domain itself when it has no MX; for each host its A then AAAA
   addresses.  The first address that greets us and answers EHLO gets every
   message of the job, one transaction per recipient.  A recipient gets
   its result from the reply that decided it, with the error status the
   classification rules (lib/classify.h) give it; when no host could be
   reached they all get the last connection or DNS error, deferred unless
   DNS said the domain does not exist. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "classify.h"
#include "dns.h"
#include "dqwork.h"
#include "envelope.h"
#include "event.h"
#include "io.h"
#include "smtpc.h"
#include "spool.h"

struct sess {
  const struct dqwork_cfg *cfg;
  const struct dqwork_job *job;
  struct smtpc c;
  int out;
  char host[DNS_NAME_MAX + 1];
  char remote[DNS_NAME_MAX + 64];    /* "host [ip]" */
  struct buf lines;                  /* results not yet written */
  int werr;                          /* writing results failed */
  long long last_mail;               /* us (monotonic) our last MAIL was answered; 0 none */
};

static long long us_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int stopping(const struct sess *s)
{
  return s->cfg->stop && *s->cfg->stop;
}

/* Delivery speed: the next MAIL goes job->interval ms after the reply to
   the last one (the server had that MAIL before it answered, so it sees
   at least the interval between the two).  A stop request cuts the wait. */
static void pace(struct sess *s)
{
  long long due = s->last_mail + 1000LL * s->job->interval, left;
  if (!s->job->interval || !s->last_mail) return;
  while (!stopping(s) && (left = due - us_now()) > 0) {
    struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000L };
    nanosleep(&ts, 0);
  }
}

static void emit(struct sess *s, const struct dq_msg *m, size_t idx, int kind,
                 int err, const char *reply, int connected)
{
  struct dq_result r;
  r.id = m->id;
  r.idx = idx;
  r.kind = (char)kind;
  r.err = kind == DQ_SUCCEEDED ? 0 : err;
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

/* The decision on the reply to a command of stage ("conn" "helo" "mail"
   "rcpt" "data"): DQ_SUCCEEDED, DQ_DEFERRED or DQ_FAILED, with *err the
   error status of the classification rules -- for a 4xx too, the status
   it would have were it permanent (kept with the deferral). */
static int decide(struct sess *s, const char *stage, int code, int *err)
{
  int k = dq_classify(code, s->c.reply.s, err);
  if (k == DQ_SUCCEEDED) return k;
  if (s->cfg->cls && code >= 400 && code <= 599) {
    int st = classify_reply_at(s->cfg->cls, stage, code, 0, s->c.reply.s ? s->c.reply.s : "");
    if (st > 0) *err = st;
  }
  if (k == DQ_FAILED && !*err) *err = ERR_OTHER;
  return k;
}

struct tx {                          /* scratch of one transaction, reused */
  struct dqprep_out po;
  struct buf cmd, rcpt, txt, a;
};

/* Recipient idx of m in one SMTP transaction of its own: its envelope
   sender and copy from dqprep_message(), then MAIL, RCPT, DATA (in one
   write with PIPELINING).  The recipient always gets its result.  0, or -1
   when the connection is gone. */
static int rcpt_send(struct sess *s, const struct dq_msg *m, size_t idx,
                     const char *msg, size_t msglen, struct tx *t)
{
  const char *rc = m->r[idx].addr, *stage = "sending MAIL FROM";
  int pipe = (s->c.ext & SMTPC_EXT_PIPELINING) != 0;
  int utf8_ok = (s->c.ext & SMTPC_EXT_SMTPUTF8) != 0, need_utf8, k, code, err = 0;
  int kind = DQ_SUCCEEDED, data_code = 0;
  buf_trunc(&t->cmd, 0);
  buf_trunc(&t->rcpt, 0);
  buf_trunc(&t->txt, 0);
  if (dqprep_message(s->cfg->prep, s->job->prep, m, idx, msg, msglen, &t->po) == -1) {
    /* Its copy cannot be made (lib/dqprep.h): failed when it never can
       be (a message that cannot be signed), else deferred; the reason
       goes into the event for the operator. */
    int perm = t->po.perm;
    if ((t->po.why[0] ? buf_printf(&t->txt, "%s", t->po.why)
                      : buf_printf(&t->txt, "unable to prepare the message for %s: %s", rc,
                                   strerror(errno))) == -1)
      goto nomem;
    emit(s, m, idx, perm ? DQ_FAILED : DQ_DEFERRED, perm ? ERR_OTHER : 0, t->txt.s, 0);
    return 0;
  }
  if (s->c.size_max && t->po.n > s->c.size_max) {
    if (buf_printf(&t->txt, "message size %zu exceeds size limit %llu of server %s",
                   t->po.n, s->c.size_max, s->remote) == -1)
      goto nomem;
    emit(s, m, idx, DQ_FAILED, ERR_TOO_LARGE, t->txt.s, 1);
    return 0;
  }
  /* Without SMTPUTF8 at the server, addresses go in ASCII form and the
     message as 8-bit; an address that has no ASCII form fails. */
  need_utf8 = m->is_smtputf8 || addr_is_utf8(t->po.sender.s) || addr_is_utf8(rc);
  k = need_utf8 && !utf8_ok ? ascii_addr(t->po.sender.s, &t->a)
                            : buf_set(&t->a, t->po.sender.s, t->po.sender.len);
  if (k == -1) goto nomem;
  if (k == 1) {
    if (buf_printf(&t->txt, "SMTPUTF8 is required for sender %s, but was not offered by host %s",
                   t->po.sender.s, s->remote) == -1)
      goto nomem;
    emit(s, m, idx, DQ_FAILED, ERR_BAD_ADDRESS, t->txt.s, 1);
    return 0;
  }
  if (buf_printf(&t->cmd, "MAIL FROM:<%s>", t->a.s ? t->a.s : "") == -1
      || (m->is_8bitmime && (s->c.ext & SMTPC_EXT_8BITMIME) && buf_adds(&t->cmd, " BODY=8BITMIME") == -1)
      || (need_utf8 && utf8_ok && buf_adds(&t->cmd, " SMTPUTF8") == -1)
      || ((s->c.ext & SMTPC_EXT_SIZE) && buf_printf(&t->cmd, " SIZE=%zu", t->po.n) == -1)
      || buf_adds(&t->cmd, "\r\n") == -1)
    goto nomem;
  k = need_utf8 && !utf8_ok ? ascii_addr(rc, &t->a) : buf_set(&t->a, rc, strlen(rc));
  if (k == -1) goto nomem;
  if (k == 1) {
    if (buf_printf(&t->txt, "SMTPUTF8 is required for recipient %s, but was not offered by host %s",
                   rc, s->remote) == -1)
      goto nomem;
    emit(s, m, idx, DQ_FAILED, ERR_BAD_ADDRESS, t->txt.s, 1);
    return 0;
  }
  if (buf_printf(&t->rcpt, "RCPT TO:<%s>\r\n", t->a.s) == -1) goto nomem;
  pace(s);
  if (pipe) {
    /* RFC 2920: MAIL, RCPT and DATA in one write, replies in order. */
    if (buf_add(&t->cmd, t->rcpt.s, t->rcpt.len) == -1 || buf_adds(&t->cmd, "DATA\r\n") == -1)
      goto nomem;
    if (smtpc_put(&s->c, t->cmd.s, t->cmd.len) == -1 || (code = smtpc_reply(&s->c)) == -1) goto lost;
    s->last_mail = us_now();
    if ((kind = decide(s, "mail", code, &err)) != DQ_SUCCEEDED) reply_text(s, &t->txt);
    stage = "sending RCPT TO";
    if ((code = smtpc_reply(&s->c)) == -1) goto lost;
    if (kind == DQ_SUCCEEDED && (kind = decide(s, "rcpt", code, &err)) != DQ_SUCCEEDED)
      reply_text(s, &t->txt);
    stage = "sending DATA";
    if ((data_code = smtpc_reply(&s->c)) == -1) goto lost;
    if (kind != DQ_SUCCEEDED) {
      emit(s, m, idx, kind, err, t->txt.s, 1);
      /* A server that says 354 anyway gets an empty message ended at once. */
      if (data_code == 354 && (smtpc_data(&s->c, "", 0) == -1 || smtpc_reply(&s->c) == -1)) return -1;
      goto rset;
    }
  } else {
    if (smtpc_put(&s->c, t->cmd.s, t->cmd.len) == -1 || (code = smtpc_reply(&s->c)) == -1) goto lost;
    s->last_mail = us_now();
    if ((kind = decide(s, "mail", code, &err)) != DQ_SUCCEEDED) goto refused;
    stage = "sending RCPT TO";
    if (smtpc_put(&s->c, t->rcpt.s, t->rcpt.len) == -1 || (code = smtpc_reply(&s->c)) == -1) goto lost;
    if ((kind = decide(s, "rcpt", code, &err)) != DQ_SUCCEEDED) goto refused;
    stage = "sending DATA";
    if ((data_code = smtpc_cmd(&s->c, "DATA")) == -1) goto lost;
  }
  if (data_code != 354) {
    kind = decide(s, "data", data_code, &err);
    if (kind == DQ_SUCCEEDED) { kind = DQ_DEFERRED; err = 0; }   /* 2xx to DATA is no answer */
    goto refused;
  }
  stage = "sending message body";
  if (smtpc_data(&s->c, t->po.p, t->po.n) == -1) goto lost;
  stage = "waiting for the reply to the end of data";
  if ((code = smtpc_reply(&s->c)) == -1) goto lost;
  kind = decide(s, "data", code, &err);
  reply_text(s, &t->txt);
  emit(s, m, idx, kind, err, t->txt.s, 1);
  return 0;                          /* the transaction is over either way */
refused:
  reply_text(s, &t->txt);
  emit(s, m, idx, kind, err, t->txt.s, 1);
rset:
  /* The result is in; a failed RSET only means the next recipient needs
     a new connection. */
  return smtpc_cmd(&s->c, "RSET") == -1 ? -1 : 0;
lost:
  io_text(s, errno, stage, &t->txt);
  emit(s, m, idx, DQ_DEFERRED, 0, t->txt.s, 1);
  return -1;
nomem:
  emit(s, m, idx, DQ_DEFERRED, 0, "out of memory", 0);
  return 0;
}

/* The recipients of one message from *pos on, each in its transaction.
   0 when all have their result; -1 when the connection is gone, *pos
   then being the first recipient not tried. */
static int item_send(struct sess *s, const struct dqwork_item *it, size_t *pos)
{
  const struct dq_msg *m = it->m;
  struct buf file = BUF_ZERO, txt = BUF_ZERO;
  struct tx t = { DQPREP_OUT_ZERO, BUF_ZERO, BUF_ZERO, BUF_ZERO, BUF_ZERO };
  struct envelope e;
  size_t off = 0, i;
  char path[4096];
  int r = 0;
  memset(&e, 0, sizeof e);
  if (snprintf(path, sizeof path, "%s/queue/%s", s->cfg->spooldir, m->id) >= (int)sizeof path
      || spool_read(path, &file, &e, &off) == -1) {
    buf_printf(&txt, "unable to read queue file %s: %s", m->id, strerror(errno));
    for (i = *pos; i < it->n; i++) emit(s, m, it->idx[i], DQ_DEFERRED, 0, txt.s ? txt.s : "", 0);
    *pos = it->n;
    goto out;
  }
  for (i = *pos; i < it->n; i++) {
    int k;
    if (stopping(s)) {               /* asked to make room: the rest stay untried */
      *pos = it->n;
      goto out;
    }
    k = rcpt_send(s, m, it->idx[i], file.s + off, file.len - off, &t);
    flush(s);
    if (k == -1) {
      *pos = i + 1;
      r = -1;
      goto out;
    }
  }
  *pos = it->n;
out:
  if (e.rcpt) envelope_free(&e);
  buf_free(&file);
  buf_free(&txt);
  dqprep_out_free(&t.po);
  buf_free(&t.cmd);
  buf_free(&t.rcpt);
  buf_free(&t.txt);
  buf_free(&t.a);
  flush(s);
  return r;
}

/* Connect to ip and get as far as MAIL.  0 ready; -1 failed, reason in
   why (*perm set to the error status of a 5xx); -2 the TLS handshake
   failed. */
static int sess_open(struct sess *s, const struct dns_ip *ip, unsigned port, int use_tls,
                     struct buf *why, int *perm)
{
  struct sockaddr_storage ss;
  socklen_t len;
  char ipt[INET6_ADDRSTRLEN];
  const char *stage = "receiving the initial server greeting", *cstage = "conn";
  int code, err = 0;
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
  if (smtpc_connect_from(&s->c, (struct sockaddr *)&ss, len, s->job->local_ip,
                         s->cfg->connect_timeout) == -1) {
    buf_trunc(why, 0);
    buf_printf(why, "connect to %s [%s]:%u: %s", s->host, ipt, port, strerror(errno));
    return -1;
  }
  if ((code = smtpc_reply(&s->c)) == -1) goto lost;
  if (code < 200 || code > 299) goto refused;
  stage = "sending EHLO";
  cstage = "helo";
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
  *perm = decide(s, cstage, code, &err) == DQ_FAILED ? err : 0;
  smtpc_quit(&s->c);
  return -1;
}

/* Deliver the items from start (its recipients from *pos) on over one
   session.  The index of the first item not done, *pos then being its
   first recipient not tried (the connection was lost), or nitem. */
static size_t sess_run(struct sess *s, const struct dqwork_job *job, size_t start, size_t *pos)
{
  size_t i;
  for (i = start; i < job->nitem && !stopping(s); i++) {
    if (item_send(s, &job->item[i], pos) == -1) {
      smtpc_close(&s->c);
      if (*pos < job->item[i].n) return i;
      *pos = 0;
      return i + 1;
    }
    *pos = 0;
  }
  smtpc_quit(&s->c);
  return job->nitem;
}

/* Items from start (its recipients from pos) on get one outcome (no host
   could take them). */
static void all(struct sess *s, const struct dqwork_job *job, size_t start, size_t pos,
                int kind, int err, const char *why, int connected)
{
  size_t i, j;
  for (i = start; i < job->nitem; i++) {
    for (j = i == start ? pos : 0; j < job->item[i].n; j++)
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
  s.job = job;
  s.out = out;
  s.c.fd = -1;
  memset(&one, 0, sizeof one);
  if (job->is_route) {
    if (dqwork_route_parse(job->dest, one.host, sizeof one.host, &port, cfg->port) == -1) {
      buf_printf(&why, "bad route %s", job->dest);
      all(&s, job, 0, 0, DQ_DEFERRED, 0, why.s, 0);
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
    all(&s, job, 0, 0, DQ_DEFERRED, 0, why.s, 0);
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
      if (rc == DNS_NXDOMAIN) all(&s, job, 0, 0, DQ_FAILED, ERR_HOST_UNKNOWN, why.s, 0);
      else if (rc == DNS_NULLMX) all(&s, job, 0, 0, DQ_FAILED, ERR_SERVER_CONFIG, why.s, 0);
      else all(&s, job, 0, 0, DQ_DEFERRED, 0, why.s, 0);
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
        size_t next = 0, pos = 0, again = 0;
        while ((next = sess_run(&s, job, next, &pos)) < job->nitem) {
          if (again++ == DQWORK_RECONNECT_MAX
              || sess_open(&s, &ip[i], port, tls, &why, &perm) != 0) {
            if (again > DQWORK_RECONNECT_MAX) {
              buf_trunc(&why, 0);
              buf_printf(&why, "lost connection with %s", s.remote);
            }
            all(&s, job, next, pos, DQ_DEFERRED, 0, why.s, 1);
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
  else if (last_perm) { kind = DQ_FAILED; err = last_perm; }
  all(&s, job, 0, 0, kind, err, why.s, 0);
  goto done;
bad:
  all(&s, job, 0, 0, DQ_DEFERRED, 0, "out of memory", 0);
done:
  if (mx && mx != &one) free(mx);
  dns_close(d);
  buf_free(&why);
  buf_free(&s.lines);
  if (s.werr) return errno = EPIPE, -1;
  return 0;
}
