/* unit-dq: deliver's queue record, retry schedule, reply classification,
   worker result lines (lib/dq.c), route parsing (lib/dqwork.c) and the
   pure helpers of lib/dns.c. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "tap.h"
#include "dns.h"
#include "dq.h"
#include "dqwork.h"
#include "event.h"

int main(void)
{
  const char *rc[3] = { "a@x.test", "\"odd..dots\"@y.test", "用户@例え.test" };
  struct dq_msg *m, *d;
  struct buf b = BUF_ZERO, l = BUF_ZERO;
  struct dq_result r;
  char host[256], line[256];
  unsigned port;
  int err, i, sorted;
  plan(42);

  m = dq_msg_new("6615709B432FD0000574F0001", "acme", "default", "s@example.com",
                 "192.0.2.1", "api", 1700000000, 1, 1, rc, 3);
  ok(m != 0 && m->nrcpt == 3 && m->r[1].state == DQ_PENDING, "new message, recipients pending");
  ok(dq_msg_sethdr(m, "f@example.com", "件名 subject", "<id@x>", "data") == 0, "header fields set");
  m->r[0].state = DQ_SUCCEEDED;
  m->r[1].attempts = 3;
  m->r[1].first = 1700000100;
  m->r[1].next = 1700000900;
  ok(dq_encode(&b, m) == 0, "encoded");
  d = dq_decode(b.s, b.len);
  ok(d != 0, "decoded");
  ok(d && !strcmp(d->id, m->id) && !strcmp(d->tenant, "acme") && !strcmp(d->comp, "default")
     && !strcmp(d->sender, "s@example.com") && !strcmp(d->client_ip, "192.0.2.1")
     && !strcmp(d->user, "api") && d->accepted == 1700000000 && d->is_8bitmime && d->is_smtputf8,
     "envelope fields survive");
  ok(d && !strcmp(d->from, "f@example.com") && !strcmp(d->subject, "件名 subject")
     && !strcmp(d->message_id, "<id@x>") && !strcmp(d->api_data, "data"), "header fields survive");
  ok(d && d->nrcpt == 3 && !strcmp(d->r[2].addr, rc[2]) && d->r[0].state == DQ_SUCCEEDED
     && d->r[1].state == DQ_PENDING && d->r[1].attempts == 3 && d->r[1].first == 1700000100
     && d->r[1].next == 1700000900, "recipient states survive");
  ok(!dq_msg_final(d), "a pending recipient: not final");
  d->r[1].state = DQ_FAILED;
  d->r[2].state = DQ_FAILED;
  ok(dq_msg_final(d), "all succeeded or failed: final");
  dq_msg_free(d);
  ok(dq_decode(b.s, b.len - 1) == 0 && errno == EINVAL, "truncated record: EINVAL");
  b.s[0] = '2';
  ok(dq_decode(b.s, b.len) == 0 && errno == EINVAL, "unknown version: EINVAL");
  b.s[0] = '1';
  buf_addz(&b, "junk");
  ok(dq_decode(b.s, b.len) == 0 && errno == EINVAL, "bytes after the end: EINVAL");
  buf_trunc(&b, 0);
  {
    /* A record with a bad state letter. */
    struct dq_msg *x = dq_msg_new("6615709B432FD0000574F0001", "t", "c", "", "", "", 1, 0, 0, rc, 1);
    x->r[0].state = 'Q';
    dq_encode(&b, x);
    ok(dq_decode(b.s, b.len) == 0 && errno == EINVAL, "bad state: EINVAL");
    dq_msg_free(x);
  }
  ok(dq_msg_new("not an id", "t", "c", "", "", "", 1, 0, 0, rc, 0) == 0, "no recipients: refused");

  /* Retry: 300 s, doubling to 3600, last try at the end of the period. */
  ok(dq_retry_next(259200, 300, 1000, 1000, 1) == 1300, "first retry after the interval");
  ok(dq_retry_next(259200, 300, 1000, 2000, 2) == 2600, "second after twice the interval");
  ok(dq_retry_next(259200, 300, 1000, 5000, 5) == 5000 + 3600, "capped at an hour");
  ok(dq_retry_next(259200, 300, 1000, 9000, 40) == 9000 + 3600, "many attempts: still an hour");
  ok(dq_retry_next(259200, 7200, 1000, 2000, 3) == 2000 + 7200, "an interval above the cap stays");
  ok(dq_retry_next(3, 1, 1000, 1002, 2) == 1003, "next attempt at the end of the period, not after");
  ok(dq_retry_next(3, 1, 1000, 1003, 3) == -1, "period over: -1");
  ok(dq_retry_next(3, 1, 1000, 5000, 1) == -1, "long after the period: -1 at once");
  ok(dq_retry_next(0, 1, 1000, 1000, 1) == -1, "period 0: no retry");

  ok(dq_classify(250, "250 ok", &err) == DQ_SUCCEEDED && err == 0, "2xx: succeeded");
  ok(dq_classify(451, "451 later", &err) == DQ_DEFERRED && err == 0, "4xx: deferred");
  ok(dq_classify(550, "550 5.1.1 unknown", &err) == DQ_FAILED && err == ERR_OTHER, "5xx: failed 99");
  ok(dq_classify(354, "354 go", &err) == DQ_DEFERRED, "unexpected code: deferred");

  r.id = m->id;
  r.idx = 2;
  r.kind = 'D';
  r.err = 9;
  r.remote = "mx.example [192.0.2.5]";
  r.local_ip = "192.0.2.9";
  r.reply = "550\tbad\r\nthing";
  ok(dq_result_put(&l, &r) == 0, "result line made");
  ok(l.len && l.s[l.len - 1] == '\n' && !memchr(l.s, '\r', l.len), "one line, no CR");
  memcpy(line, l.s, l.len < sizeof line ? l.len : sizeof line - 1);
  line[l.len - 1] = 0;
  memset(&r, 0, sizeof r);
  ok(dq_result_parse(&r, line, l.len - 1) == 0, "parsed back");
  ok(!strcmp(r.id, m->id) && r.idx == 2 && r.kind == 'D' && r.err == 9
     && !strcmp(r.remote, "mx.example [192.0.2.5]") && !strcmp(r.local_ip, "192.0.2.9")
     && !strcmp(r.reply, "550 bad  thing"), "fields back, tabs and line ends made spaces");
  memcpy(line, "6615709B432FD0000574F0001\t1\tX\t0\t\t\t", 33);
  ok(dq_result_parse(&r, line, 32) == -1, "bad kind refused");
  memcpy(line, "nope\t1\tK\t0\t\t\tx", 15);
  ok(dq_result_parse(&r, line, 14) == -1, "bad id refused");
  memcpy(line, "6615709B432FD0000574F0001\t1\tK\t0\t\t", 33);
  ok(dq_result_parse(&r, line, 32) == -1, "too few fields refused");

  ok(dqwork_route_parse("mx.example:2525", host, sizeof host, &port, 25) == 0
     && !strcmp(host, "mx.example") && port == 2525, "route host:port");
  ok(dqwork_route_parse("[::1]:26", host, sizeof host, &port, 25) == 0
     && !strcmp(host, "::1") && port == 26, "route [ipv6]:port");
  ok(dqwork_route_parse("mx.example", host, sizeof host, &port, 25) == 0 && port == 25,
     "route without port: the default");
  ok(dqwork_route_parse("::1", host, sizeof host, &port, 25) == -1
     && dqwork_route_parse("h:0", host, sizeof host, &port, 25) == -1
     && dqwork_route_parse("h:x", host, sizeof host, &port, 25) == -1, "bad routes refused");

  {
    struct dns_mx mx[40];
    for (i = 0; i < 40; i++) {
      mx[i].pref = (unsigned)(i % 4) * 10;
      snprintf(mx[i].host, sizeof mx[i].host, "h%d", i);
    }
    dns_mx_sort(mx, 40);
    sorted = 1;
    for (i = 1; i < 40; i++) if (mx[i].pref < mx[i - 1].pref) sorted = 0;
    ok(sorted, "MX sorted by preference");
  }
  {
    struct dns_ip ip;
    char t[64];
    ok(dns_ip_parse("[192.0.2.1]", 11, &ip) == 1 && dns_ip_fmt(&ip, t, sizeof t) == 0
       && !strcmp(t, "192.0.2.1"), "address literal parsed");
    ok(dns_ip_parse("mx.example", 10, &ip) == 0, "a name is no address");
  }
  {
    struct sockaddr_in sa;
    ok(dns_server_parse("127.0.0.1:5353", &sa) == 0 && ntohs(sa.sin_port) == 5353
       && dns_server_parse("127.0.0.1", &sa) == 0 && ntohs(sa.sin_port) == 53
       && dns_server_parse("localhost", &sa) == -1 && dns_server_parse("1.2.3.4:0", &sa) == -1,
       "resolver address: ip[:port]");
  }
  dq_msg_free(m);
  buf_free(&b);
  buf_free(&l);
  return done();
}
