/* unit-event: lib/event.c: status names, record round trip through the
   table, events of one message in time order (and not another tenant's),
   a tenant's time range forward and backward (across compositions), long
   text cut, bad input; the store's listings (compositions, tenants,
   Message-IDs, recipient substrings) and its counters (late bounces,
   blocked, per minute and quarter hour, one batch the same as one by one). */
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

struct names {
  char s[512];
};

static int name_one(void *ctx, const char *name)
{
  struct names *n = ctx;
  size_t l = strlen(n->s);
  snprintf(n->s + l, sizeof n->s - l, "%s,", name);
  return 0;
}

static int dom_one(void *ctx, const char *name)
{
  struct names *n = ctx;
  size_t l = strlen(n->s);
  snprintf(n->s + l, sizeof n->s - l, "D:%s,", name);
  return 0;
}

struct cnt {
  struct event_counts c;
  int rows;
  char last_domain[64];
};

static int stat_one(void *ctx, long long slot, const char *domain, const char *comp,
                    const char *user, const struct event_counts *c)
{
  struct cnt *s = ctx;
  int i;
  (void)slot;
  if (strcmp(comp, "default") || strcmp(user, "api")) return -1;
  for (i = 0; i < EVC_N; i++) s->c.n[i] += c->n[i];
  s->rows++;
  snprintf(s->last_domain, sizeof s->last_domain, "%s", domain);
  return 0;
}

int main(void)
{
  struct tbl *t;
  struct event e;
  struct got g;
  char big[5000];
  struct buf scratch = BUF_ZERO;
  struct names nl;
  int r;

  plan(43);
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
  /* Listings. */
  memset(&nl, 0, sizeof nl);
  ok(event_comps(t, "acme", name_one, &nl) == 0 && !strcmp(nl.s, "default,"), "compositions of acme");
  e = ev("acme", "M5", 1010, EV_QUEUED, "Z@Example.com");
  e.composition = "bulk";
  e.message_id = "<m5@x>";
  ok(event_add(t, 0, &e) == 0, "an event of another composition");
  memset(&nl, 0, sizeof nl);
  event_comps(t, "acme", name_one, &nl);
  ok(!strcmp(nl.s, "bulk,default,"), "both compositions, in order");
  memset(&g, 0, sizeof g);
  ok(event_range(t, "acme", 1001, 1010, 0, take, &g) == 0
     && !strcmp(g.s, "1001/queued/c@example.com,1002/succeeded/b@example.com,"
                     "1005/deferred/a@example.com,1010/queued/Z@Example.com"),
     "a range merges the compositions in time order");
  memset(&nl, 0, sizeof nl);
  ok(event_tenants(t, name_one, &nl) == 0 && !strcmp(nl.s, "acme,other,"), "tenants with events");
  memset(&nl, 0, sizeof nl);
  ok(event_ids_of_message(t, "acme", "<m5@x>", name_one, &nl) == 0 && !strcmp(nl.s, "M5,"),
     "Message-ID to our id");
  memset(&nl, 0, sizeof nl);
  ok(event_addr_find(t, "acme", "bulk", "XAMPL", 10, name_one, dom_one, &nl) == 0
     && !strcmp(nl.s, "D:example.com,"), "a substring of the domain: the domain");
  memset(&nl, 0, sizeof nl);
  ok(event_addr_find(t, "acme", "bulk", "z@exa", 10, name_one, dom_one, &nl) == 0
     && !strcmp(nl.s, "z@example.com,"), "a substring across the @: the recipient, in lower case");
  memset(&nl, 0, sizeof nl);
  ok(event_addr_find(t, "acme", "bulk", "z@e", 10, name_one, dom_one, &nl) == 1,
     "three characters: too short for the table");

  /* Counters: a success, then its bounce (late), a blocked one, a failure. */
  {
    static const int st[] = { EV_QUEUED, EV_SUCCEEDED, EV_FAILED, EV_FAILED, EV_FAILED, EV_DEFERRED };
    static const int er[] = { 0, 0, ERR_USER_UNKNOWN, ERR_SUPPRESSED, ERR_MAILBOX_FULL, 5 };
    static const char *const rc[] = { "a@x.jp", "a@x.jp", "A@X.JP", "b@x.jp", "c@x.jp", "d@x.jp" };
    struct event batch[6];
    struct cnt cc;
    int i;
    for (i = 0; i < 6; i++) {
      batch[i] = ev("one", "K1", 90000 + i * 100, (enum event_status)st[i], rc[i]);
      batch[i].error = er[i];
      batch[i].user = "api";
      ok(event_add(t, 0, &batch[i]) == 0, "counted event");
      batch[i].tenant = "many";
    }
    ok(event_add_many(t, 0, batch, 6) == 0, "the same as one batch, for another tenant");
    memset(&cc, 0, sizeof cc);
    ok(event_stat_walk(t, "one", EVENT_SLOT_QUARTER, 0, 999999, stat_one, &cc) == 0
       && cc.c.n[EVC_QUEUED] == 1 && cc.c.n[EVC_SUCCEEDED] == 1 && cc.c.n[EVC_LATE] == 1
       && cc.c.n[EVC_BLOCKED] == 1 && cc.c.n[EVC_FAILED] == 1 && cc.c.n[EVC_DEFERRED] == 1
       && cc.c.n[EVC_ERR + event_err_index(ERR_USER_UNKNOWN)] == 1 && cc.rows == 1,
       "a quarter hour: late bounce and blocked counted apart");
    memset(&cc, 0, sizeof cc);
    ok(event_stat_walk(t, "one", EVENT_SLOT_MINUTE, 0, 999999, stat_one, &cc) == 0 && cc.rows == 6,
       "minutes: six slots");
    {
      struct cnt c2;
      memset(&c2, 0, sizeof c2);
      memset(&cc, 0, sizeof cc);
      event_stat_walk(t, "one", EVENT_SLOT_DOMAIN, 0, 999999, stat_one, &cc);
      event_stat_walk(t, "many", EVENT_SLOT_DOMAIN, 0, 999999, stat_one, &c2);
      ok(!memcmp(&cc.c, &c2.c, sizeof cc.c) && cc.rows == c2.rows && !strcmp(cc.last_domain, "x.jp"),
         "one batch counts as one by one; the domain in lower case");
    }
  }
  buf_free(&scratch);
  tbl_close(t);
  rmdir_all();
  return done();
}
