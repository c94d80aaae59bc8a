/* unit-event: lib/event.c: status names, record round trip through the
   table, events of one message in time order (and not another tenant's),
   a tenant's time range forward and backward, long text cut, bad input. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "event.h"

static char dir[] = "/tmp/unit-event.XXXXXX";

static void rmdir_all(void)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[4096];
  if (!d) return;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
      unlink(p);
  closedir(d);
  rmdir(dir);
}

struct got {
  char s[1024];
  int n;
  struct event last;              /* numbers only: its strings die with the walk */
  char detail[1024];
  char subject[4096];
  int stop;
};

static int take(void *ctx, const struct event *e)
{
  struct got *g = ctx;
  size_t l = strlen(g->s);
  snprintf(g->s + l, sizeof g->s - l, "%s%lld/%s/%s", l ? "," : "", e->time,
           event_status_name(e->status), e->rcpt);
  g->last = *e;
  snprintf(g->detail, sizeof g->detail, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", e->tenant,
           e->composition, e->id, e->message_id, e->sender, e->from, e->rcpt, e->api_data,
           e->reply, e->remote, e->sender_ip, e->source_ip, e->user);
  snprintf(g->subject, sizeof g->subject, "%s", e->subject);
  g->n++;
  return g->stop && g->n == g->stop ? 5 : 0;
}

static struct event ev(const char *tenant, const char *id, long long tm, enum event_status s,
                       const char *rcpt)
{
  struct event e;
  memset(&e, 0, sizeof e);
  e.tenant = tenant;
  e.composition = "default";
  e.id = id;
  e.time = tm;
  e.usec = 500;
  e.status = s;
  e.rcpt = rcpt;
  return e;
}

int main(void)
{
  struct tbl *t;
  struct event e;
  struct got g;
  char big[5000];
  struct buf scratch = BUF_ZERO;
  int r;

  plan(24);
  if (!mkdtemp(dir) || tbl_open(&t, dir, TBL_RECOVER) == -1) return 1;
  ok(!strcmp(event_status_name(EV_DEFERRED), "deferred"), "status name");
  ok(event_status_parse("succeeded") == EV_SUCCEEDED, "status parse");
  ok(event_status_parse("bogus") == -1, "unknown status is -1");

  e = ev("acme", "M1", 1000, EV_QUEUED, "a@example.com");
  e.message_id = "<x@y>";
  e.sender = "s@acme.test";
  e.subject = "Hello \xe3\x81\x82";
  e.reply = "250 ok";
  e.remote = "mx.example.com [192.0.2.1]";
  e.user = "alice";
  ok(event_add(t, 0, &e) == 0, "add queued");
  e = ev("acme", "M1", 1005, EV_DEFERRED, "a@example.com");
  e.error = ERR_MAILBOX_FULL;
  ok(event_add(t, 0, &e) == 0, "add deferred");
  e = ev("acme", "M1", 1002, EV_SUCCEEDED, "b@example.com");
  ok(event_add(t, 0, &e) == 0, "add succeeded (earlier time, added later)");
  e = ev("acme", "M2", 1001, EV_QUEUED, "c@example.com");
  ok(event_add(t, 0, &e) == 0, "another message");
  e = ev("other", "M1", 1003, EV_FAILED, "d@example.com");
  ok(event_add(t, 0, &e) == 0, "same id, another tenant");
  e = ev("acme", "M1", 1000, EV_QUEUED, "a@example.com");
  ok(event_add(t, 0, &e) == 0, "an identical event is a second record");

  memset(&g, 0, sizeof g);
  r = event_by_id(t, "acme", "M1", take, &g);
  ok(r == 0 && g.n == 4, "four events of acme M1");
  ok(!strcmp(g.s, "1000/queued/a@example.com,1000/queued/a@example.com,"
                  "1002/succeeded/b@example.com,1005/deferred/a@example.com"), "in time order");
  ok(g.last.error == ERR_MAILBOX_FULL && !strcmp(g.detail, "acme|default|M1||||a@example.com||||||"),
     "fields decoded");

  memset(&g, 0, sizeof g);
  g.stop = 1;
  ok(event_by_id(t, "acme", "M1", take, &g) == 5 && g.n == 1, "fn > 0 stops and is returned");
  ok(!strcmp(g.detail, "acme|default|M1|<x@y>|s@acme.test||a@example.com||250 ok|"
                       "mx.example.com [192.0.2.1]|||alice")
     && !strcmp(g.subject, "Hello \xe3\x81\x82") && g.last.usec == 500, "strings round trip");

  memset(&g, 0, sizeof g);
  ok(event_by_id(t, "acme", "M", take, &g) == 0 && g.n == 0, "an id's prefix matches nothing");
  memset(&g, 0, sizeof g);
  ok(event_by_id(t, "other", "M1", take, &g) == 0 && g.n == 1 && !strcmp(g.s, "1003/failed/d@example.com"),
     "other tenant sees only its own");

  memset(&g, 0, sizeof g);
  ok(event_range(t, "acme", 1001, 1002, 0, take, &g) == 0
     && !strcmp(g.s, "1001/queued/c@example.com,1002/succeeded/b@example.com"), "range forward");
  memset(&g, 0, sizeof g);
  ok(event_range(t, "acme", 1001, 1005, 1, take, &g) == 0
     && !strcmp(g.s, "1005/deferred/a@example.com,1002/succeeded/b@example.com,1001/queued/c@example.com"),
     "range backward, newest first");
  memset(&g, 0, sizeof g);
  ok(event_range(t, "acme", 0, 99999, 0, take, &g) == 0 && g.n == 5, "whole range of acme: 5");
  memset(&g, 0, sizeof g);
  ok(event_range(t, "acm", 0, 99999, 0, take, &g) == 0 && g.n == 0, "a tenant's prefix matches nothing");

  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  big[2047] = (char)0xe3;               /* a 3-byte character across the cut */
  big[2048] = (char)0x81;
  big[2049] = (char)0x82;
  e = ev("acme", "M3", 2000, EV_FAILED, "e@example.com");
  e.subject = big;
  ok(event_add(t, 0, &e) == 0, "a long subject is stored");
  memset(&g, 0, sizeof g);
  ok(event_by_id(t, "acme", "M3", take, &g) == 0 && strlen(g.subject) == 2047, "cut before a split character");

  e = ev("", "M4", 1, EV_QUEUED, "x");
  ok(event_add(t, 0, &e) == -1 && errno == EINVAL, "no tenant: EINVAL");
  ok(event_decode(&e, "1\0garbage", 9, &scratch) == -1 && errno == EINVAL,
     "a short record does not decode");
  buf_free(&scratch);
  tbl_close(t);
  rmdir_all();
  return done();
}
