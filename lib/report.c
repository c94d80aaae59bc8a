/* report.c: the searches of the delivery and error logs, statistics and
   domain counts (report.h), on the event store (event.h).  A search picks
   the narrowest index range the query allows (our id, Message-ID, an exact
   recipient, the recipients containing a substring, a destination domain,
   failures or deferrals, an exact sender, else every event in the time
   range), merges the ranges of every composition and recipient in time
   order, and checks every condition on each record.  doc/reports.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "event.h"
#include "event_key.h"
#include "report.h"

/* ---------- dates ---------- */

int report_zone_ok(const char *dir, const char *name)
{
  char path[4096];
  struct stat st;
  const char *p;
  size_t part = 0;
  if (!name || !*name || strlen(name) > 128 || *name == '/') return 0;
  for (p = name; *p; p++) {
    if (*p == '/') {
      if (!part) return 0;
      part = 0;
      continue;
    }
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '_' || *p == '+' || *p == '-' || (*p == '.' && part)))
      return 0;
    if (*p == '.' && p[-1] == '.') return 0;
    part++;
  }
  if (!part) return 0;
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 0;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int mdays(int y, int m)
{
  static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

static int digits(const char **s, int n, int *v)
{
  int i;
  *v = 0;
  for (i = 0; i < n; i++) {
    if ((*s)[i] < '0' || (*s)[i] > '9') return -1;
    *v = *v * 10 + ((*s)[i] - '0');
  }
  *s += n;
  return 0;
}

static long long local(int y, int m, int d, int hh, int mm, int ss)
{
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  tm.tm_isdst = -1;
  return (long long)mktime(&tm);
}

int report_parse_time(const char *s, long long *t)
{
  int y, m, d, hh = 0, mm = 0, ss = 0;
  if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &m) || *s++ != '-'
      || digits(&s, 2, &d))
    return errno = EINVAL, -1;
  if (*s == ' ' || *s == 'T') {
    s++;
    if (digits(&s, 2, &hh) || *s++ != ':' || digits(&s, 2, &mm)) return errno = EINVAL, -1;
    if (*s == ':' && (s++, digits(&s, 2, &ss))) return errno = EINVAL, -1;
  }
  if (*s || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays(y, m)
      || hh > 23 || mm > 59 || ss > 59)
    return errno = EINVAL, -1;
  *t = local(y, m, d, hh, mm, ss);
  return 0;
}

int report_days(int y, int m, int d, size_t n, long long *b)
{
  size_t i;
  if (y < 1970 || y > 9999 || m < -1200 || m > 1200 || d < -100000 || d > 100000 || n > 100000)
    return errno = EINVAL, -1;
  /* mktime normalises day n of a month into the right later date; local
     midnight, whatever the day's length (summer time). */
  for (i = 0; i <= n; i++) b[i] = local(y, m, d + (int)i, 0, 0, 0);
  return 0;
}

int report_date(long long t, int *y, int *m, int *d)
{
  time_t s = (time_t)t;
  struct tm tm;
  if (!localtime_r(&s, &tm)) return errno = EINVAL, -1;
  *y = tm.tm_year + 1900;
  *m = tm.tm_mon + 1;
  *d = tm.tm_mday;
  return 0;
}

void report_time_text(long long t, int seconds, int date_only, char *out, size_t n)
{
  time_t s = (time_t)t;
  struct tm tm;
  size_t r = 0;
  if (localtime_r(&s, &tm))
    r = date_only ? strftime(out, n, "%Y-%m-%d", &tm)
        : seconds ? strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm)
                  : strftime(out, n, "%Y-%m-%d %H:%M", &tm);
  if (!r) snprintf(out, n, "%lld", t);
}

int report_parse_period(const char *s, long long *secs)
{
  long long v = 0, unit = 60;
  const char *p = s;
  if (!s || !*s) return errno = EINVAL, -1;
  while (*p >= '0' && *p <= '9' && v < 100000000) v = v * 10 + (*p++ - '0');
  if (p == s) return errno = EINVAL, -1;
  if (*p == 'm') unit = 60, p++;
  else if (*p == 'h') unit = 3600, p++;
  else if (*p == 'd') unit = 86400, p++;
  if (*p || v == 0 || v * unit > 400LL * 86400) return errno = EINVAL, -1;
  *secs = v * unit;
  return 0;
}

/* ---------- matching ---------- */

static char lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* 1 if hay contains needle (lower case), ASCII case ignored. */
static int ci_contains(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  if (!n) return 1;
  for (; *hay; hay++) {
    size_t i;
    if (lower(*hay) != needle[0]) continue;
    for (i = 1; i < n && hay[i] && lower(hay[i]) == needle[i]; i++) {}
    if (i == n) return 1;
  }
  return 0;
}

static int ci_equal(const char *a, const char *b_lower)
{
  for (; *a && lower(*a) == *b_lower; a++, b_lower++) {}
  return !*a && !*b_lower;
}

struct list {
  const struct report_query *q;
  struct buf rcpt, sender, from, api, subject, domain, mid2;
  struct buf addrs;               /* what a substring search found: found() */
  size_t naddrs, ndomains;
  const char *comp;               /* the composition event_addr_find looks in */
  int status;
};

static int text_match(const char *have, const char *want_lower, int full)
{
  return full ? ci_equal(have, want_lower) : ci_contains(have, want_lower);
}

static int match(void *ctx, const struct event *e)
{
  struct list *l = ctx;
  const struct report_query *q = l->q;
  if (q->comp && strcmp(e->composition, q->comp)) return 0;
  if (q->user && strcmp(e->user, q->user)) return 0;
  if (l->status && (int)e->status != l->status) return 0;
  if (q->error && e->error != q->error) return 0;
  if (q->rcpt && !text_match(e->rcpt, l->rcpt.s, q->full & REPORT_FULL_RCPT)) return 0;
  if (q->sender && !text_match(e->sender, l->sender.s, q->full & REPORT_FULL_SENDER)) return 0;
  if (q->from_addr && !text_match(e->from, l->from.s, q->full & REPORT_FULL_FROM)) return 0;
  if (q->api_data && !text_match(e->api_data, l->api.s, q->full & REPORT_FULL_API_DATA)) return 0;
  if (q->subject && !ci_contains(e->subject, l->subject.s)) return 0;
  if (q->id && strcmp(e->id, q->id)) return 0;
  if (q->message_id && strcmp(e->message_id, q->message_id) && strcmp(e->message_id, l->mid2.s))
    return 0;
  if (q->domain) {
    const char *at = strrchr(e->rcpt, '@');
    if (!ci_equal(at ? at + 1 : "", l->domain.s)) return 0;
  }
  return 1;
}

static int need(struct buf *b, const char *s)
{
  return s ? evk_lower(b, s) : 0;
}

struct names {
  struct buf all;
  size_t n;
};

static int name_one(void *ctx, const char *name)
{
  struct names *n = ctx;
  n->n++;
  return buf_addz(&n->all, name) == -1 ? -1 : 0;
}

/* Found by a substring search: 'r' RCPT \0 COMP \0 or 'd' DOMAIN \0 COMP \0. */
static int found(struct list *l, char type, const char *what)
{
  return buf_addc(&l->addrs, type) == -1 || buf_addz(&l->addrs, what) == -1
         || buf_addz(&l->addrs, l->comp) == -1 ? -1 : 0;
}

static int addr_one(void *ctx, const char *addr)
{
  struct list *l = ctx;
  l->naddrs++;
  return found(l, 'r', addr);
}

static int domain_one(void *ctx, const char *domain)
{
  struct list *l = ctx;
  l->ndomains++;
  return found(l, 'd', domain);
}

/* Add the ranges of the best plan for q to s. */
static int plan(struct tbl *t, struct list *l, struct names *comps, struct event_scan *s,
                struct report_plan *p)
{
  const struct report_query *q = l->q;
  const char *c;
  size_t i;
  int r;
  p->ranges = 0;
  if (q->id) {
    p->path = "id";
    p->ranges = 1;
    return event_scan_add(s, EVENT_IX_ID, q->comp, q->id);
  }
  if (q->message_id) {
    struct names ids;
    memset(&ids, 0, sizeof ids);
    r = event_ids_of_message(t, q->tenant, q->message_id, name_one, &ids);
    if (r == 0 && l->mid2.len) r = event_ids_of_message(t, q->tenant, l->mid2.s, name_one, &ids);
    for (i = 0, c = ids.all.s; r == 0 && i < ids.n; i++, c += strlen(c) + 1)
      r = event_scan_add(s, EVENT_IX_ID, q->comp, c);
    buf_free(&ids.all);
    p->path = "message-id";
    p->ranges = ids.n;
    return r;
  }
  if (q->rcpt && (q->full & REPORT_FULL_RCPT)) {
    for (i = 0, c = comps->all.s; i < comps->n; i++, c += strlen(c) + 1)
      if (event_scan_add(s, EVENT_IX_RCPT, c, q->rcpt) == -1) return -1;
    p->path = "rcpt";
    p->ranges = comps->n;
    return 0;
  }
  if (q->rcpt && *q->rcpt) {
    /* The recipients that contain it, then each one's exact range; when
       there are too many, a scan in time order finds the first page
       sooner (most events match then). */
    int many = 0;
    for (i = 0, c = comps->all.s; i < comps->n && !many; i++, c += strlen(c) + 1) {
      l->comp = c;
      size_t max = q->addr_max ? q->addr_max : REPORT_ADDR_MAX;
      r = event_addr_find(t, q->tenant, c, q->rcpt, max > l->naddrs ? max - l->naddrs : 0,
                          addr_one, domain_one, l);
      if (r == -1) return -1;
      many = r == 1;
    }
    if (!many) {
      const char *a = l->addrs.s;
      for (i = 0; i < l->naddrs + l->ndomains; i++) {
        const char *what = a + 1, *comp = what + strlen(what) + 1;
        if (event_scan_add(s, *a == 'd' ? EVENT_IX_DOMAIN : EVENT_IX_RCPT, comp, what) == -1)
          return -1;
        a = comp + strlen(comp) + 1;
      }
      p->path = "rcpt-substring";
      p->ranges = l->naddrs + l->ndomains;
      return 0;
    }
  }
  if (q->domain) {
    for (i = 0, c = comps->all.s; i < comps->n; i++, c += strlen(c) + 1)
      if (event_scan_add(s, EVENT_IX_DOMAIN, c, q->domain) == -1) return -1;
    p->path = "domain";
    p->ranges = comps->n;
    return 0;
  }
  if (l->status == EV_FAILED || l->status == EV_DEFERRED) {
    for (i = 0, c = comps->all.s; i < comps->n; i++, c += strlen(c) + 1)
      if (event_scan_add(s, l->status == EV_FAILED ? EVENT_IX_FAILED : EVENT_IX_DEFERRED, c, 0) == -1)
        return -1;
    p->path = l->status == EV_FAILED ? "failed" : "deferred";
    p->ranges = comps->n;
    return 0;
  }
  if (q->sender && (q->full & REPORT_FULL_SENDER)) {
    for (i = 0, c = comps->all.s; i < comps->n; i++, c += strlen(c) + 1)
      if (event_scan_add(s, EVENT_IX_SENDER, c, q->sender) == -1) return -1;
    p->path = "sender";
    p->ranges = comps->n;
    return 0;
  }
  for (i = 0, c = comps->all.s; i < comps->n; i++, c += strlen(c) + 1)
    if (event_scan_add(s, EVENT_IX_TIME, c, 0) == -1) return -1;
  p->path = "time";
  p->ranges = comps->n;
  return 0;
}

int report_list(struct tbl *t, const struct report_query *q, event_fn *fn, void *ctx,
                int *more, struct report_plan *pl)
{
  struct list l;
  struct names comps;
  struct report_plan dummy;
  struct event_scan *s = 0;
  struct event e;
  size_t skip, shown = 0;
  int r = -1;
  memset(&l, 0, sizeof l);
  memset(&comps, 0, sizeof comps);
  if (more) *more = 0;
  if (!pl) pl = &dummy;
  pl->path = "none";
  pl->ranges = 0;
  if (!q || !evk_name_ok(q->tenant) || (q->comp && !evk_name_ok(q->comp))
      || q->rows > REPORT_ROWS_MAX || q->status < 0 || q->status > EV_DEFERRED
      || q->error < 0 || q->error > 999)
    return errno = EINVAL, -1;
  if (q->rows && __builtin_mul_overflow(q->page, q->rows, &skip)) return errno = EINVAL, -1;
  if (!q->rows) skip = 0;
  l.q = q;
  l.status = q->status;
  if (q->errors) {
    if (q->status && q->status != EV_FAILED) return 0;    /* nothing can match */
    l.status = EV_FAILED;
  }
  if (need(&l.rcpt, q->rcpt) == -1 || need(&l.sender, q->sender) == -1
      || need(&l.from, q->from_addr) == -1 || need(&l.api, q->api_data) == -1
      || need(&l.subject, q->subject) == -1 || need(&l.domain, q->domain) == -1)
    goto out;
  if (q->message_id) {
    /* Also the other spelling: with angle brackets, or without. */
    size_t n = strlen(q->message_id);
    int r2 = n > 1 && q->message_id[0] == '<' && q->message_id[n - 1] == '>'
               ? buf_add(&l.mid2, q->message_id + 1, n - 2)
               : buf_printf(&l.mid2, "<%s>", q->message_id);
    if (r2 == -1 || buf_addc(&l.mid2, 0) == -1) goto out;
    l.mid2.len--;
  }
  if (q->comp) {
    if (name_one(&comps, q->comp) == -1) goto out;
  } else if (event_comps(t, q->tenant, name_one, &comps) == -1) {
    goto out;
  }
  if (event_scan_new(&s, t, q->tenant, q->from, q->to, q->oldest_first) == -1) goto out;
  if (plan(t, &l, &comps, s, pl) == -1) goto out;
  event_scan_filter(s, l.status, q->error, match, &l);
  /* A later page: when the index decides every filter (status and error
     status are in the index entries; the composition is the range), the
     rows before it are passed over without reading their records. */
  if (skip && !q->user && !q->rcpt && !q->sender && !q->from_addr && !q->api_data && !q->subject
      && !q->id && !q->message_id && !q->domain) {
    if (event_scan_skip(s, skip) == -1) goto out;
    skip = 0;
  }
  while ((r = event_scan_next(s, &e)) == 1) {
    if (skip) {
      skip--;
      continue;
    }
    if (q->rows && shown == q->rows) {
      if (more) *more = 1;
      r = 0;
      break;
    }
    shown++;
    if ((r = fn(ctx, &e)) != 0) {
      r = r < 0 ? -1 : 0;          /* fn > 0: stopped on purpose */
      break;
    }
  }
out:
  event_scan_free(s);
  buf_free(&l.rcpt);
  buf_free(&l.sender);
  buf_free(&l.from);
  buf_free(&l.api);
  buf_free(&l.subject);
  buf_free(&l.domain);
  buf_free(&l.mid2);
  buf_free(&l.addrs);
  buf_free(&comps.all);
  return r;
}

/* ---------- statistics ---------- */

struct sacc {
  const char *comp, *user;
  const long long *b;
  size_t n;
  struct event_counts *out;
};

static void add_counts(struct event_counts *to, const struct event_counts *c)
{
  int i;
  for (i = 0; i < EVC_N; i++) to->n[i] += c->n[i];
}

static int stat_add(void *ctx, long long slot, const char *domain, const char *comp,
                    const char *user, const struct event_counts *c)
{
  struct sacc *a = ctx;
  size_t lo = 0, hi = a->n;
  (void)domain;
  if (a->comp && strcmp(comp, a->comp)) return 0;
  if (a->user && strcmp(user, a->user)) return 0;
  if (slot < a->b[0] || slot >= a->b[a->n]) return 0;
  /* the last bucket whose start is <= slot */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (a->b[mid] <= slot) lo = mid;
    else hi = mid;
  }
  add_counts(&a->out[lo], c);
  return 0;
}

int report_stats(struct tbl *t, const char *tenant, const char *comp, const char *user,
                 const long long *b, size_t n, struct event_counts *out)
{
  struct sacc a;
  size_t i;
  int kind = EVENT_SLOT_QUARTER;
  if (!n || !evk_name_ok(tenant)) return errno = EINVAL, -1;
  for (i = 0; i <= n; i++) {
    if (i && b[i] < b[i - 1]) return errno = EINVAL, -1;
    if (b[i] % EVENT_QUARTER) kind = EVENT_SLOT_MINUTE;
    if (b[i] % EVENT_MINUTE) return errno = EINVAL, -1;
  }
  memset(out, 0, n * sizeof *out);
  a.comp = comp;
  a.user = user;
  a.b = b;
  a.n = n;
  a.out = out;
  return event_stat_walk(t, tenant, kind, b[0], b[n], stat_add, &a);
}

unsigned long long report_valid(const struct event_counts *c)
{
  return c->n[EVC_SUCCEEDED] + c->n[EVC_FAILED];
}

struct dacc {
  const char *comp, *user, *domain;
  struct evk_map m;
};

static int dom_add(void *ctx, long long slot, const char *domain, const char *comp,
                   const char *user, const struct event_counts *c)
{
  struct dacc *a = ctx;
  struct event_counts *to;
  (void)slot;
  if (a->comp && strcmp(comp, a->comp)) return 0;
  if (a->user && strcmp(user, a->user)) return 0;
  if (a->domain && strcmp(domain, a->domain)) return 0;
  if (!(to = evk_map_get(&a->m, domain, strlen(domain), 0))) return -1;
  add_counts(to, c);
  return 0;
}

static unsigned long long traffic(const struct event_counts *c)
{
  return c->n[EVC_QUEUED] + c->n[EVC_SUCCEEDED] + c->n[EVC_FAILED] + c->n[EVC_DEFERRED]
         + c->n[EVC_BLOCKED] + c->n[EVC_LATE];
}

static int busiest(const void *pa, const void *pb)
{
  const struct report_domain *a = pa, *b = pb;
  unsigned long long x = traffic(&a->c), y = traffic(&b->c);
  if (x != y) return x > y ? -1 : 1;
  return strcmp(a->domain, b->domain);
}

int report_domains(struct tbl *t, const char *tenant, const char *comp, const char *user,
                   long long from, long long to, const char *domain,
                   struct report_domain **out, size_t *n)
{
  struct dacc a;
  struct buf lc = BUF_ZERO;
  struct report_domain *d = 0;
  size_t i, k = 0;
  int r;
  *out = 0;
  *n = 0;
  if (!evk_name_ok(tenant)) return errno = EINVAL, -1;
  memset(&a, 0, sizeof a);
  a.comp = comp;
  a.user = user;
  if (domain) {
    if (evk_lower(&lc, domain) == -1) return -1;
    a.domain = lc.s ? lc.s : "";
  }
  evk_map_init(&a.m, sizeof(struct event_counts));
  from -= ((from % EVENT_QUARTER) + EVENT_QUARTER) % EVENT_QUARTER;
  to += (EVENT_QUARTER - ((to % EVENT_QUARTER) + EVENT_QUARTER) % EVENT_QUARTER) % EVENT_QUARTER;
  r = event_stat_walk(t, tenant, EVENT_SLOT_DOMAIN, from, to, dom_add, &a);
  if (r == 0 && a.m.n && !(d = calloc(a.m.n, sizeof *d))) r = -1;
  for (i = 0; r == 0 && i < a.m.cap; i++) {
    if (!a.m.slot[i].k) continue;
    if (!(d[k].domain = strdup(a.m.slot[i].k))) {
      r = -1;
      break;
    }
    memcpy(&d[k].c, a.m.slot[i].v, sizeof d[k].c);
    k++;
  }
  if (r == 0) {
    qsort(d, k, sizeof *d, busiest);
    *out = d;
    *n = k;
  } else {
    report_domains_free(d, k);
  }
  evk_map_free(&a.m);
  buf_free(&lc);
  return r;
}

void report_domains_free(struct report_domain *d, size_t n)
{
  size_t i;
  if (!d) return;
  for (i = 0; i < n; i++) free(d[i].domain);
  free(d);
}
