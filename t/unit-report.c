/* unit-report: lib/report.c and the event store, against a brute-force
   scan of the same generated events kept in memory: hundreds of random
   searches (every filter, exact and partial, any case, paging, both
   orders, both plans of a substring search), statistics over random
   buckets, domain counts, tenant isolation (tenants whose names and
   addresses overlap), late bounces, then a purge (resumed in small
   batches, a message kept for deliver) checked the same way, and the
   store's own verification; the same events loaded in key order
   (event_bulk) give the same answers. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "event.h"
#include "report.h"

#define NEV 4000
#define NQ 600
#define T0 1700000000LL          /* the data covers three days from here */

static char dir[] = "/tmp/unit-report.XXXXXX", dir2[] = "/tmp/unit-report.XXXXXX";

static void rmdir_all(const char *path)
{
  DIR *d = opendir(path);
  struct dirent *e;
  char p[4096];
  if (!d) return;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p)
      unlink(p);
  closedir(d);
  rmdir(path);
}

struct rec {
  long long time;
  unsigned usec;
  int status, error, late, gone;
  char tenant[16], comp[16], id[32], mid[48], sender[64], from[64], rcpt[160], subject[64];
  char api[32], user[32];
};
static struct rec ev[NEV];
static int nev;

static unsigned long long rs = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (unsigned)(rs % n);
}

static const char *const addrs[] = {
  "taro.tanaka@example.co.jp", "hanako.tanaka@example.co.jp", "tanaka@mail.example.com",
  "ken@gmail.com", "ken.sato@gmail.com", "sato@docomo.ne.jp", "a@b.example", "aa@b.example",
  "info@shop.example", "Info.Desk@Shop.Example", "x+tag@gmail.com", "postmaster",
  "\"irregular..pattern\"@example.com", "yamada@corp0001.co.jp", "yamada@corp0002.co.jp",
  "long.address.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
  "gmail@example.jp", "user@GMAIL.COM", "tan@tan.example", "na@naka.example",
};
#define NADDR (sizeof addrs / sizeof *addrs)
static const char *const tenants[] = { "acme", "acme-x", "other" };
static const char *const comps[] = { "default", "bulk" };
static const char *const users[] = { "", "api@acme", "batch@acme" };
static const char *const senders[] = { "noreply@acme.example", "News@Acme.Example", "" };
static const char *const subjects[] = { "Hello", "ご注文 Order", "Invoice, March", "hello again" };

/* A random spelling of s: some letters in upper case. */
static void recase(char *out, size_t n, const char *s)
{
  size_t i;
  for (i = 0; s[i] && i + 1 < n; i++) {
    char c = s[i];
    if (c >= 'a' && c <= 'z' && rnd(4) == 0) c = (char)(c - 'a' + 'A');
    out[i] = c;
  }
  out[i] = 0;
}

static struct rec *newev(const struct rec *m, long long t, int status, int error)
{
  struct rec *r = &ev[nev++];
  *r = *m;
  r->time = t;
  r->usec = (unsigned)nev;        /* (time, usec) unique: one order */
  r->status = status;
  r->error = error;
  return r;
}

static int cmp_time(const void *a, const void *b)
{
  const struct rec *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  return x->usec < y->usec ? -1 : x->usec > y->usec;
}

static void lower(char *d, const char *s, size_t n)
{
  size_t i;
  for (i = 0; s[i] && i + 1 < n; i++) d[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
  d[i] = 0;
}

static void generate(void)
{
  int m = 0, i, j;
  while (nev < NEV - 8) {
    struct rec b;
    long long t = T0 + rnd(3 * 86400 - 7200);
    int nr = 1 + (rnd(5) == 0);
    memset(&b, 0, sizeof b);
    snprintf(b.tenant, sizeof b.tenant, "%s", tenants[rnd(10) < 7 ? 0 : 1 + rnd(2)]);
    snprintf(b.comp, sizeof b.comp, "%s", comps[rnd(4) == 0]);
    snprintf(b.id, sizeof b.id, "%lld.%d", t, ++m);
    if (rnd(5)) snprintf(b.mid, sizeof b.mid, "<m%d@mta.example>", m / 2 * 2);  /* some shared */
    snprintf(b.sender, sizeof b.sender, "%s", senders[rnd(3)]);
    recase(b.from, sizeof b.from, senders[rnd(2)]);
    snprintf(b.subject, sizeof b.subject, "%s", subjects[rnd(4)]);
    if (rnd(3)) snprintf(b.api, sizeof b.api, "Order-%d", m);
    snprintf(b.user, sizeof b.user, "%s", users[rnd(3)]);
    for (j = 0; j < nr; j++) {
      int x = (int)rnd(100);
      recase(b.rcpt, sizeof b.rcpt, addrs[rnd(NADDR)]);
      newev(&b, t, EV_QUEUED, 0);
      if (x < 70) {
        newev(&b, t + 1 + rnd(30), EV_SUCCEEDED, 0);
        if (rnd(8) == 0) newev(&b, t + 600 + rnd(3000), EV_FAILED, ERR_USER_UNKNOWN);  /* late */
      } else if (x < 85) {
        static const int errs[] = { 1, 2, 3, 4, 5, 8, 10, 11, 99 };
        newev(&b, t + 1 + rnd(30), EV_FAILED, errs[rnd(9)]);
      } else {
        newev(&b, t + 1 + rnd(30), EV_DEFERRED, ERR_MAILBOX_FULL);
        newev(&b, t + 300 + rnd(600), rnd(2) ? EV_SUCCEEDED : EV_FAILED, rnd(2) ? 0 : 3);
      }
    }
  }
  for (i = 0; i < nev; i++)          /* a succeeded event never carries an error status */
    if (ev[i].status != EV_FAILED && ev[i].status != EV_DEFERRED) ev[i].error = 0;
  qsort(ev, (size_t)nev, sizeof *ev, cmp_time);
  /* Late bounces, as the writer decides: a success of the recipient recorded before. */
  for (i = 0; i < nev; i++) {
    char a[160], b2[160];
    if (ev[i].status != EV_FAILED || ev[i].error == 10 || ev[i].error == 11) continue;
    lower(a, ev[i].rcpt, sizeof a);
    for (j = 0; j < i; j++) {
      lower(b2, ev[j].rcpt, sizeof b2);
      if (ev[j].status == EV_SUCCEEDED && !strcmp(ev[j].tenant, ev[i].tenant)
          && !strcmp(ev[j].id, ev[i].id) && !strcmp(a, b2))
        ev[i].late = 1;
    }
  }
}

static struct event to_event(const struct rec *r)
{
  struct event e;
  memset(&e, 0, sizeof e);
  e.time = r->time;
  e.usec = r->usec;
  e.status = (enum event_status)r->status;
  e.error = r->error;
  e.tenant = r->tenant;
  e.composition = r->comp;
  e.id = r->id;
  e.message_id = r->mid;
  e.sender = r->sender;
  e.from = r->from;
  e.rcpt = r->rcpt;
  e.subject = r->subject;
  e.api_data = r->api;
  e.reply = "250 ok";
  e.user = r->user;
  return e;
}

/* ---------- the brute force ---------- */

static int ci_has(const char *hay, const char *needle, int full)
{
  char h[256], n[256];
  lower(h, hay, sizeof h);
  lower(n, needle, sizeof n);
  return full ? !strcmp(h, n) : strstr(h, n) != 0;
}

static int matches(const struct rec *r, const struct report_query *q)
{
  const char *at;
  if (r->gone || strcmp(r->tenant, q->tenant)) return 0;
  if (r->time < q->from || r->time >= q->to) return 0;
  if (q->comp && strcmp(r->comp, q->comp)) return 0;
  if (q->user && strcmp(r->user, q->user)) return 0;
  if (q->errors && r->status != EV_FAILED) return 0;
  if (q->status && r->status != q->status) return 0;
  if (q->error && r->error != q->error) return 0;
  if (q->rcpt && !ci_has(r->rcpt, q->rcpt, q->full & REPORT_FULL_RCPT)) return 0;
  if (q->sender && !ci_has(r->sender, q->sender, q->full & REPORT_FULL_SENDER)) return 0;
  if (q->from_addr && !ci_has(r->from, q->from_addr, q->full & REPORT_FULL_FROM)) return 0;
  if (q->api_data && !ci_has(r->api, q->api_data, q->full & REPORT_FULL_API_DATA)) return 0;
  if (q->subject && !ci_has(r->subject, q->subject, 0)) return 0;
  if (q->id && strcmp(r->id, q->id)) return 0;
  if (q->message_id) {
    char alt[64];
    size_t n = strlen(q->message_id);
    if (n > 1 && q->message_id[0] == '<' && q->message_id[n - 1] == '>')
      snprintf(alt, sizeof alt, "%.*s", (int)n - 2, q->message_id + 1);
    else
      snprintf(alt, sizeof alt, "<%s>", q->message_id);
    if (strcmp(r->mid, q->message_id) && strcmp(r->mid, alt)) return 0;
  }
  if (q->domain) {
    at = strrchr(r->rcpt, '@');
    if (!ci_has(at ? at + 1 : "", q->domain, 1)) return 0;
  }
  return 1;
}

static void expect(const struct report_query *q, struct buf *b, int *more)
{
  int i, skip = (int)(q->page * q->rows), shown = 0;
  *more = 0;
  buf_trunc(b, 0);
  for (i = 0; i < nev; i++) {
    const struct rec *r = &ev[q->oldest_first ? i : nev - 1 - i];
    if (!matches(r, q)) continue;
    if (q->rows && skip) { skip--; continue; }
    if (q->rows && shown == (int)q->rows) { *more = 1; break; }
    shown++;
    buf_printf(b, "%s/%lld.%u/%d/%s|", r->id, r->time, r->usec, r->status, r->rcpt);
  }
}

struct got {
  struct buf b;
  const char *tenant;
  int foreign;
};

static int take(void *ctx, const struct event *e)
{
  struct got *g = ctx;
  if (strcmp(e->tenant, g->tenant)) g->foreign++;
  buf_printf(&g->b, "%s/%lld.%u/%d/%s|", e->id, e->time, e->usec, (int)e->status, e->rcpt);
  return 0;
}

/* A random part of s, in a random case. */
static void part(char *out, size_t n, const char *s)
{
  size_t len = strlen(s), a = rnd((unsigned)len), l = 1 + rnd((unsigned)(len - a));
  char tmp[256];
  if (l > 12 && rnd(2)) l = 3 + rnd(6);
  snprintf(tmp, sizeof tmp, "%.*s", (int)l, s + a);
  recase(out, n, tmp);
}

static void random_query(struct report_query *q, char bufs[8][256])
{
  const struct rec *r = &ev[rnd(nev)];
  memset(q, 0, sizeof *q);
  q->tenant = tenants[rnd(10) < 7 ? 0 : 1 + rnd(2)];
  q->from = T0 + rnd(3 * 86400) - 3600;
  q->to = rnd(5) ? q->from + 60 + rnd(2 * 86400) : T0 + 4 * 86400;
  if (rnd(4) == 0) q->from = T0 - 100;
  if (rnd(3) == 0) q->comp = comps[rnd(2)];
  if (rnd(6) == 0) q->user = users[rnd(3)];
  if (rnd(4) == 0) q->errors = 1;
  if (rnd(5) == 0) q->status = 1 + (int)rnd(4);
  if (rnd(6) == 0) { static const int e[] = { 2, 3, 5, 10 }; q->error = e[rnd(4)]; }
  switch (rnd(12)) {
  case 0: case 1: case 2:
    part(bufs[0], 256, r->rcpt);
    q->rcpt = bufs[0];
    if (rnd(3) == 0) q->addr_max = 1 + rnd(3);   /* the other plan: a scan */
    break;
  case 3:
    recase(bufs[0], 256, r->rcpt);
    q->rcpt = bufs[0];
    q->full |= REPORT_FULL_RCPT;
    break;
  case 4:
    part(bufs[1], 256, senders[rnd(3)][0] ? senders[rnd(2)] : "acme");
    q->sender = bufs[1];
    if (rnd(2)) { recase(bufs[1], 256, senders[rnd(3)]); q->full |= REPORT_FULL_SENDER; }
    break;
  case 5:
    part(bufs[2], 256, r->from);
    q->from_addr = bufs[2];
    break;
  case 6:
    if (!*r->api) break;
    if (rnd(2)) { part(bufs[3], 256, r->api); }
    else { recase(bufs[3], 256, r->api); q->full |= REPORT_FULL_API_DATA; }
    q->api_data = bufs[3];
    break;
  case 7:
    q->subject = rnd(2) ? "order" : "HELLO";
    break;
  case 8:
    if (!*r->mid) break;
    if (rnd(2)) snprintf(bufs[4], 256, "%s", r->mid);
    else snprintf(bufs[4], 256, "%.*s", (int)strlen(r->mid) - 2, r->mid + 1);
    q->message_id = bufs[4];
    break;
  case 9:
    q->id = r->id;
    break;
  case 10: {
    const char *at = strrchr(r->rcpt, '@');
    recase(bufs[5], 256, at ? at + 1 : "nodomain");
    q->domain = bufs[5];
    break;
  }
  default:
    break;
  }
  q->rows = rnd(3) ? 1 + rnd(15) : 0;
  q->page = q->rows ? rnd(4) : 0;
  q->oldest_first = rnd(2);
}

static int searches(struct tbl *t, int n, const char *what)
{
  struct report_query q;
  struct got g;
  struct buf want = BUF_ZERO;
  char bufs[8][256];
  int i, bad = 0, more, wmore, foreign = 0, plans[8] = { 0 };
  memset(&g, 0, sizeof g);
  for (i = 0; i < n; i++) {
    struct report_plan p;
    random_query(&q, bufs);
    buf_trunc(&g.b, 0);
    g.tenant = q.tenant;
    g.foreign = 0;
    if (report_list(t, &q, take, &g, &more, &p) == -1) {
      bad++;
      continue;
    }
    foreign += g.foreign;
    expect(&q, &want, &wmore);
    if (!strcmp(p.path, "rcpt-substring")) plans[0]++;
    else if (!strcmp(p.path, "time")) plans[1]++;
    if (strcmp(g.b.s ? g.b.s : "", want.s ? want.s : "") || more != wmore) {
      if (bad < 3)
        printf("# query %d (%s, plan %s) differs:\n#  got  %.300s\n#  want %.300s\n", i,
               q.rcpt ? q.rcpt : "", p.path, g.b.s ? g.b.s : "", want.s ? want.s : "");
      bad++;
    }
  }
  printf("# %s: %d searches, %d through recipient substrings, %d by time\n", what, n, plans[0], plans[1]);
  ok(bad == 0, "every search equals the brute-force scan");
  ok(foreign == 0, "no search returns another tenant's event");
  buf_free(&g.b);
  buf_free(&want);
  return bad;
}

/* ---------- statistics ---------- */

static void count(struct event_counts *c, const struct rec *r)
{
  switch (r->status) {
  case EV_QUEUED: c->n[EVC_QUEUED]++; break;
  case EV_SUCCEEDED: c->n[EVC_SUCCEEDED]++; break;
  case EV_DEFERRED: c->n[EVC_DEFERRED]++; break;
  default:
    c->n[EVC_ERR + event_err_index(r->error)]++;
    if (r->error == 10 || r->error == 11) c->n[EVC_BLOCKED]++;
    else if (r->late) c->n[EVC_LATE]++;
    else c->n[EVC_FAILED]++;
  }
}

static int stats(struct tbl *t)
{
  int i, k, bad = 0;
  for (k = 0; k < 60; k++) {
    long long b[9];
    struct event_counts got[8], want[8];
    const char *tenant = tenants[rnd(3)], *comp = rnd(2) ? 0 : comps[rnd(2)];
    const char *user = rnd(3) ? 0 : users[rnd(3)];
    long long unit = rnd(2) ? 60 : 900;
    int n = 1 + (int)rnd(8);
    b[0] = T0 - T0 % 900 - 7200 + (long long)rnd(3 * 86400 / (unsigned)unit) * unit;
    for (i = 1; i <= n; i++) b[i] = b[i - 1] + unit * (1 + rnd(3 * 86400 / (unsigned)unit / 4));
    memset(want, 0, sizeof want);
    for (i = 0; i < nev; i++) {
      const struct rec *r = &ev[i];
      int j;
      if (strcmp(r->tenant, tenant) || (comp && strcmp(r->comp, comp))
          || (user && strcmp(r->user, user)))
        continue;
      for (j = 0; j < n; j++)
        if (r->time >= b[j] && r->time < b[j + 1]) count(&want[j], r);
    }
    if (report_stats(t, tenant, comp, user, b, (size_t)n, got) == -1
        || memcmp(got, want, (size_t)n * sizeof *got))
      bad++;
  }
  ok(bad == 0, "statistics over random buckets equal a recount (late bounces, blocked)");
  return bad;
}

static int domains(struct tbl *t)
{
  struct report_domain *d;
  size_t n, j;
  int i, bad = 0, k;
  for (k = 0; k < 10; k++) {
    long long from = T0 - T0 % 900 + (long long)rnd(2 * 86400 / 900) * 900, to = from + 900 * (1 + rnd(96));
    const char *tenant = tenants[rnd(3)];
    if (report_domains(t, tenant, 0, 0, from, to, 0, &d, &n) == -1) { bad++; continue; }
    for (j = 0; j < n; j++) {
      struct event_counts want;
      memset(&want, 0, sizeof want);
      for (i = 0; i < nev; i++) {
        char a[160];
        const char *at;
        lower(a, ev[i].rcpt, sizeof a);
        at = strrchr(a, '@');
        if (!strcmp(ev[i].tenant, tenant) && ev[i].time >= from && ev[i].time < to
            && !strcmp(at ? at + 1 : "", d[j].domain))
          count(&want, &ev[i]);
      }
      if (memcmp(&want, &d[j].c, sizeof want)) bad++;
    }
    report_domains_free(d, n);
  }
  ok(bad == 0, "domain counts equal a recount");
  return bad;
}

/* ---------- purge ---------- */

static const char *kept_id;
static int keep(void *ctx, const char *id)
{
  (void)ctx;
  return kept_id && !strcmp(id, kept_id);
}

struct exact {
  char want[160];
  int n;
};

static int exact_one(void *ctx, const char *s)
{
  struct exact *x = ctx;
  x->n += !strcmp(s, x->want);
  return 0;
}

static int ignore(void *ctx, const char *s)
{
  (void)ctx;
  (void)s;
  return 0;
}

int main(void)
{
  struct tbl *t;
  struct event_verify v;
  struct event_purge p;
  struct event many[64];
  long long cut = T0 + 86400 + 3600;
  int i, n, r, c, bad;
  plan(21);
  if (!mkdtemp(dir) || tbl_open(&t, dir, TBL_RECOVER) == -1) return 1;
  generate();
  /* One at a time and in batches of random size: the same store. */
  for (i = 0, bad = 0; i < nev; i += n) {
    n = 1 + (int)rnd(40);
    if (n > nev - i) n = nev - i;
    if (rnd(3) == 0) {
      for (c = 0; c < n; c++) {
        many[0] = to_event(&ev[i + c]);
        if (event_add(t, 0, &many[0]) == -1) bad++;
      }
    } else {
      for (c = 0; c < n; c++) many[c] = to_event(&ev[i + c]);
      if (event_add_many(t, 0, many, (size_t)n) == -1) bad++;
    }
  }
  ok(bad == 0, "events added, one by one and in batches");
  printf("# %d events\n", nev);
  for (i = 0, bad = 0; i < 3; i++)
    if (event_verify(t, tenants[i], 0, 999999999999LL, &v) == -1 || v.missing || v.orphans
        || v.counters || v.bad)
      bad++;
  ok(bad == 0, "indexes and counters agree with the records");
  searches(t, NQ, "before the purge");
  stats(t);
  domains(t);

  {
    /* The same events through the loader in key order (four passes): the
       same store. */
    struct tbl *t2;
    struct event_bulk *bl;
    struct event e2;
    int k;
    if (!mkdtemp(dir2) || tbl_open(&t2, dir2, TBL_RECOVER) == -1) return 1;
    bad = event_bulk_new(&bl, t2) == -1;
    for (i = 0; !bad && i < nev; i++) {
      e2 = to_event(&ev[i]);
      if (event_bulk_add(bl, &e2) == -1
          || (event_bulk_pending(bl) == 1000 && event_bulk_finish(bl) == -1))
        bad = 1;
    }
    if (!bad && (event_bulk_finish(bl) == -1 || tbl_checkpoint(t2) == -1)) bad = 1;
    event_bulk_free(bl);
    for (k = 0; !bad && k < 3; k++)
      if (event_verify(t2, tenants[k], 0, 999999999999LL, &v) == -1 || v.missing || v.orphans
          || v.counters || v.bad || (k == 0 && v.events == 0))
        bad = 1;
    ok(!bad, "loaded in key order: indexes and counters agree with the records");
    searches(t2, NQ / 3, "loaded in key order");
    stats(t2);
    tbl_close(t2);
    rmdir_all(dir2);
  }
  {
    struct report_query q;
    struct got g;
    int more;
    memset(&q, 0, sizeof q);
    memset(&g, 0, sizeof g);
    q.tenant = "acme";
    q.from = 0;
    q.to = T0 * 2;
    q.rcpt = "TARO.TANAKA@EXAMPLE.CO.JP";
    q.full = REPORT_FULL_RCPT;
    g.tenant = "acme";
    r = report_list(t, &q, take, &g, &more, 0);
    ok(r == 0 && g.b.len > 0, "an address in capitals finds the events, however written");
    buf_free(&g.b);
  }

  /* Purge acme before cut, 7 events a transaction; one message stays. */
  for (i = 0; i < nev; i++)
    if (!strcmp(ev[i].tenant, "acme") && ev[i].time < cut && ev[i].status == EV_QUEUED) {
      kept_id = ev[i].id;
      break;
    }
  for (c = 0, bad = 0; c < 2; c++) {
    memset(&p, 0, sizeof p);
    while ((r = event_purge(t, "acme", comps[c], cut, 7, keep, 0, &p)) == 1) {}
    if (r == -1) bad++;
  }
  ok(bad == 0, "purge in small transactions");
  for (i = 0, n = 0; i < nev; i++)
    if (!strcmp(ev[i].tenant, "acme") && ev[i].time < cut) {
      if (strcmp(ev[i].id, kept_id)) ev[i].gone = 1, n++;
    }
  printf("# %d events purged, message %s kept\n", n, kept_id);
  memset(&p, 0, sizeof p);
  r = event_purge(t, "acme", "default", cut, 7, keep, 0, &p);
  ok(r == 0 && p.removed == 0, "a second purge finds nothing");
  {
    struct report_query q;
    struct got g;
    struct buf want = BUF_ZERO;
    int more, wmore;
    memset(&q, 0, sizeof q);
    memset(&g, 0, sizeof g);
    q.tenant = g.tenant = "acme";
    q.from = 0;
    q.to = T0 * 2;
    q.oldest_first = 1;
    report_list(t, &q, take, &g, &more, 0);
    expect(&q, &want, &wmore);
    ok(g.b.s && want.s && !strcmp(g.b.s, want.s), "what is left is exactly the later events and the kept message");
    q.id = kept_id;
    buf_trunc(&g.b, 0);
    report_list(t, &q, take, &g, &more, 0);
    ok(g.b.len > 0, "the kept message's events are all there");
    buf_free(&g.b);
    buf_free(&want);
  }
  for (i = 0, bad = 0; i < 3; i++) {
    long long from = i == 0 ? cut + 86400 : 0;
    if (event_verify(t, tenants[i], from, 999999999999LL, &v) == -1 || v.missing || v.orphans || v.bad
        || v.counters)
      bad++;
  }
  ok(bad == 0, "after the purge: no index entry without its record, none missing");
  /* An address whose every event went is gone from the address table. */
  for (i = 0, bad = 0; i < (int)NADDR; i++) {
    struct exact x;
    int live = 0, j;
    char a[160];
    lower(x.want, addrs[i], sizeof x.want);
    x.n = 0;
    for (j = 0; j < nev; j++) {
      lower(a, ev[j].rcpt, sizeof a);
      if (!ev[j].gone && !strcmp(ev[j].tenant, "acme") && !strcmp(ev[j].comp, "default")
          && !strcmp(a, x.want))
        live = 1;
    }
    if (event_addr_find(t, "acme", "default", addrs[i], 100, exact_one, ignore, &x) == -1) bad++;
    if (x.n != live) bad++;
  }
  searches(t, NQ / 2, "after the purge");
  stats(t);
  {
    size_t removed = 0;
    r = event_stat_purge(t, "acme", EVENT_SLOT_MINUTE, cut, 50, &removed);
    while (r == 1) r = event_stat_purge(t, "acme", EVENT_SLOT_MINUTE, cut, 50, &removed);
    ok(r == 0 && removed > 0, "minute counters before the cut removed");
  }
  {
    long long b[2] = { T0 - T0 % 900 - 3600, cut - cut % 900 };
    struct event_counts c1, c2;
    report_stats(t, "acme", 0, 0, b, 1, &c1);      /* quarter rows: kept longer */
    memset(&c2, 0, sizeof c2);
    for (i = 0; i < nev; i++)
      if (!strcmp(ev[i].tenant, "acme") && ev[i].time >= b[0] && ev[i].time < b[1]) count(&c2, &ev[i]);
    ok(!memcmp(&c1, &c2, sizeof c1), "daily statistics outlive the purged events");
  }
  tbl_close(t);
  rmdir_all(dir);
  return done();
}
