/* dset.c: delivery settings that are lists, in table "dset" (see dset.h
   and doc/settings.md): checks, the record form, and the writers.  Every
   write is one transaction that also increments the generation, so that
   deliver, which polls the generation, sees a whole change or none. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "addr.h"
#include "dset.h"
#include "tenant.h"

#define TXN_TRIES 8
#define GEN_KEY "\0generation"
#define GEN_KEYLEN 11

static const char *const kinds[DSET_NKIND] = { "speed", "priority", "window", "forward", "unsubscribe" };
static const char kindc[DSET_NKIND] = { 's', 'p', 'w', 'f', 'u' };

const char *dset_kind_name(enum dset_kind k)
{
  return (unsigned)k < DSET_NKIND ? kinds[k] : "?";
}

int dset_kind_parse(const char *s)
{
  int i;
  for (i = 0; i < DSET_NKIND; i++) if (!strcmp(s, kinds[i])) return i;
  return -1;
}

void dset_filter_init(struct dset_filter *f)
{
  memset(f, 0, sizeof *f);
}

void dset_filter_free(struct dset_filter *f)
{
  size_t i;
  free(f->name);
  for (i = 0; i < f->ncond; i++) { free(f->header[i]); free(f->pattern[i]); }
  for (i = 0; i < f->nxcond; i++) { free(f->xheader[i]); free(f->xpattern[i]); }
  free(f->addr);
  memset(f, 0, sizeof *f);
}

/* --- small parsers --- */

static int num(const char *s, unsigned long max, unsigned *out)
{
  char *end;
  unsigned long v;
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno || *end || v > max) return -1;
  *out = (unsigned)v;
  return 0;
}

static int hhmm(const char *s, size_t n, unsigned *min)
{
  unsigned h, m;
  if (n != 5 || s[2] != ':') return -1;
  if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '9'
      || s[4] < '0' || s[4] > '9')
    return -1;
  h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
  m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m)) return -1;
  *min = h * 60 + m;
  return 0;
}

int dset_window_parse(const char *s, struct dset_window *w)
{
  const char *dash = strchr(s, '-');
  if (!dash || hhmm(s, (size_t)(dash - s), &w->from) == -1
      || hhmm(dash + 1, strlen(dash + 1), &w->to) == -1 || w->from == 24 * 60)
    return errno = EINVAL, -1;
  if (w->to == 24 * 60) w->to = 0;   /* 24:00 is midnight */
  if (w->from == w->to) return errno = EINVAL, -1;
  return 0;
}

/* A forwarding or mailto address: plain ASCII local@domain that needs no
   quoting, so that it can stand in a header and a mailto: URI as it is. */
static int plain_addr(const char *a)
{
  const char *at = strrchr(a, '@');
  struct buf b = BUF_ZERO;
  size_t i;
  int ok;
  if (!at || at == a || !at[1] || strlen(a) > DSET_ADDR_MAX) return 0;
  for (i = 0; a + i < at; i++)
    if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9')
          || strchr(".!#$%&'*+/=?^_`{|}~-", a[i])))
      return 0;
  ok = addr_parse(&b, a, strlen(a), 0) == 0 && b.s && !strcmp(b.s, a);
  buf_free(&b);
  return ok;
}

/* --- checks --- */

static int conds_ok(const char *const *h, const char *const *p, size_t n, struct buf *err)
{
  struct filter *f;
  if (filter_new(&f, h, p, n, err) == -1) return 0;
  filter_free(f);
  return 1;
}

int dset_filter_check(enum dset_kind k, const struct dset_filter *f, struct buf *err)
{
  size_t i;
  if (!filter_name_ok(f->name, err)) return errno = EINVAL, -1;
  if (f->ncond == 0) {
    buf_adds(err, k == DSET_SPEED ? "no pattern (-p) on the destination address"
                                  : "no condition: give -h HEADER -p PATTERN");
    return errno = EINVAL, -1;
  }
  if (!conds_ok((const char *const *)f->header, (const char *const *)f->pattern, f->ncond, err))
    return errno = EINVAL, -1;
  if (f->nxcond && (k != DSET_WINDOW
                    || !conds_ok((const char *const *)f->xheader, (const char *const *)f->xpattern,
                                 f->nxcond, err))) {
    if (k != DSET_WINDOW) buf_adds(err, "only window filters have excluding conditions");
    return errno = EINVAL, -1;
  }
  switch (k) {
  case DSET_SPEED:
    for (i = 0; i < f->ncond; i++)
      if (strcasecmp(f->header[i], "To")) {
        buf_adds(err, "a speed filter matches the destination address (To) only");
        return errno = EINVAL, -1;
      }
    if (f->maxconn < DSET_MAXCONN_MIN || f->maxconn > DSET_MAXCONN_MAX) {
      buf_printf(err, "maximum connections must be %d to %d", DSET_MAXCONN_MIN, DSET_MAXCONN_MAX);
      return errno = EINVAL, -1;
    }
    if (f->interval && (f->interval < DSET_INTERVAL_MIN || f->interval > DSET_INTERVAL_MAX)) {
      buf_printf(err, "interval must be 0 (none) or %d to %d ms", DSET_INTERVAL_MIN, DSET_INTERVAL_MAX);
      return errno = EINVAL, -1;
    }
    if (f->nips > DSET_IPS_MAX) {
      buf_printf(err, "number of sending IPs must be 0 (all) to %d", DSET_IPS_MAX);
      return errno = EINVAL, -1;
    }
    break;
  case DSET_PRIO:
    if (f->prio < 1 || f->prio > 99) {
      buf_adds(err, "priority must be 1 to 99");
      return errno = EINVAL, -1;
    }
    break;
  case DSET_WINDOW:
    if (f->nwin == 0) {
      buf_adds(err, "no time window (-w HH:MM-HH:MM)");
      return errno = EINVAL, -1;
    }
    for (i = 0; i < f->nwin; i++)
      if (f->win[i].from >= 24 * 60 || f->win[i].to >= 24 * 60 || f->win[i].from == f->win[i].to) {
        buf_adds(err, "bad time window");
        return errno = EINVAL, -1;
      }
    break;
  case DSET_FORWARD:
    if (!f->addr || !plain_addr(f->addr)) {
      buf_printf(err, "bad forwarding address %s (want local@domain, plain ASCII)",
                 f->addr ? f->addr : "(none: -a ADDRESS)");
      return errno = EINVAL, -1;
    }
    break;
  case DSET_UNSUB:
    if (f->ncond != 1) {
      buf_adds(err, "an unsubscribe filter has one header and one pattern");
      return errno = EINVAL, -1;
    }
    if (strlen(f->pattern[0]) > DSET_UNSUB_PATTERN_MAX) {
      buf_printf(err, "unsubscribe pattern longer than %d bytes", DSET_UNSUB_PATTERN_MAX);
      return errno = EINVAL, -1;
    }
    break;
  default:
    buf_adds(err, "unknown kind of filter");
    return errno = EINVAL, -1;
  }
  return 0;
}

/* --- command words --- */

static int add_cond(char **h, char **p, size_t *n, const char *header, const char *pattern,
                    struct buf *err)
{
  if (*n == FILTER_COND_MAX) {
    buf_printf(err, "more than %d conditions", FILTER_COND_MAX);
    return errno = EINVAL, -1;
  }
  if (!(h[*n] = strdup(header))) return errno = ENOMEM, -1;
  if (!(p[*n] = strdup(pattern))) { free(h[*n]); return errno = ENOMEM, -1; }
  (*n)++;
  return 0;
}

int dset_filter_args(enum dset_kind k, int argc, char **argv, struct dset_filter *f,
                     struct buf *err)
{
  const char *h = k == DSET_SPEED ? "To" : 0, *xh = 0;
  int i;
  dset_filter_init(f);
  if (k == DSET_PRIO) f->prio = 0;
  if (argc < 1 || argv[0][0] == '-') {
    buf_adds(err, "no filter name");
    return errno = EINVAL, -1;
  }
  if (!(f->name = strdup(argv[0]))) return errno = ENOMEM, -1;
  for (i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : 0;
    int bad = 0;
    if (strlen(o) != 2 || o[0] != '-' || !v) {
      buf_printf(err, "%s: %s", o, v ? "unknown option" : "missing value");
      return errno = EINVAL, -1;
    }
    i++;
    switch (o[1]) {
    case 'h':
      if (k == DSET_SPEED) { buf_adds(err, "-h: a speed filter matches the destination address"); bad = 1; }
      h = v;
      break;
    case 'p':
      if (!h) { buf_adds(err, "-p before -h HEADER"); bad = 1; break; }
      if (add_cond(f->header, f->pattern, &f->ncond, h, v, err) == -1) return -1;
      break;
    case 'x':
      if (k != DSET_WINDOW) { buf_adds(err, "-x: only window filters have exclusions"); bad = 1; }
      xh = v;
      break;
    case 'X':
      if (!xh) { buf_adds(err, "-X before -x HEADER"); bad = 1; break; }
      if (add_cond(f->xheader, f->xpattern, &f->nxcond, xh, v, err) == -1) return -1;
      break;
    case 'm': case 'i': case 'n':
      if (k != DSET_SPEED) { buf_printf(err, "%s: only for speed filters", o); bad = 1; break; }
      if (num(v, 1000000, o[1] == 'm' ? &f->maxconn : o[1] == 'i' ? &f->interval : &f->nips) == -1) {
        buf_printf(err, "%s %s: not a number", o, v);
        bad = 1;
      }
      break;
    case 'P':
      if (k != DSET_PRIO) { buf_adds(err, "-P: only for priority filters"); bad = 1; break; }
      if (num(v, 1000, &f->prio) == -1) { buf_printf(err, "-P %s: not a number", v); bad = 1; }
      break;
    case 'w':
      if (k != DSET_WINDOW) { buf_adds(err, "-w: only for window filters"); bad = 1; break; }
      if (f->nwin == DSET_WINDOWS_MAX) { buf_printf(err, "more than %d windows", DSET_WINDOWS_MAX); bad = 1; break; }
      if (dset_window_parse(v, &f->win[f->nwin]) == -1) {
        buf_printf(err, "-w %s: want HH:MM-HH:MM (from inclusive, to exclusive, from != to)", v);
        bad = 1;
        break;
      }
      f->nwin++;
      break;
    case 'a':
      if (k != DSET_FORWARD) { buf_adds(err, "-a: only for forward filters"); bad = 1; break; }
      free(f->addr);
      if (!(f->addr = strdup(v))) return errno = ENOMEM, -1;
      break;
    case 'M':
      if (k != DSET_FORWARD) { buf_adds(err, "-M: only for forward filters"); bad = 1; break; }
      if (!strcmp(v, "copy")) f->rewrite = 0;
      else if (!strcmp(v, "rewrite")) f->rewrite = 1;
      else { buf_printf(err, "-M %s: want copy or rewrite", v); bad = 1; }
      break;
    default:
      buf_printf(err, "%s: unknown option", o);
      bad = 1;
    }
    if (bad) return errno = EINVAL, -1;
  }
  return 0;
}

static int win_fmt(struct buf *out, const struct dset_window *w)
{
  return buf_printf(out, "%02u:%02u-%02u:%02u", w->from / 60, w->from % 60, w->to / 60, w->to % 60);
}

int dset_filter_format(enum dset_kind k, const struct dset_filter *f, struct buf *out)
{
  size_t i;
  const char *h = k == DSET_SPEED ? "To" : 0;
  for (i = 0; i < f->ncond; i++) {
    if ((!h || strcmp(h, f->header[i])) && buf_printf(out, "-h %s ", f->header[i]) == -1) return -1;
    h = f->header[i];
    if (buf_printf(out, "-p %s ", f->pattern[i]) == -1) return -1;
  }
  h = 0;
  for (i = 0; i < f->nxcond; i++) {
    if ((!h || strcmp(h, f->xheader[i])) && buf_printf(out, "-x %s ", f->xheader[i]) == -1) return -1;
    h = f->xheader[i];
    if (buf_printf(out, "-X %s ", f->xpattern[i]) == -1) return -1;
  }
  switch (k) {
  case DSET_SPEED:
    if (buf_printf(out, "-m %u -i %u -n %u ", f->maxconn, f->interval, f->nips) == -1) return -1;
    break;
  case DSET_PRIO:
    if (buf_printf(out, "-P %u ", f->prio) == -1) return -1;
    break;
  case DSET_WINDOW:
    for (i = 0; i < f->nwin; i++)
      if (buf_adds(out, "-w ") == -1 || win_fmt(out, &f->win[i]) == -1 || buf_addc(out, ' ') == -1)
        return -1;
    break;
  case DSET_FORWARD:
    if (buf_printf(out, "-a %s -M %s ", f->addr ? f->addr : "", f->rewrite ? "rewrite" : "copy") == -1)
      return -1;
    break;
  default:
    break;
  }
  if (out->len && out->s[out->len - 1] == ' ') buf_trunc(out, out->len - 1);
  return 0;
}

/* --- records --- */

static int item(struct buf *out, const char *k, const char *v)
{
  if (buf_adds(out, k) == -1 || buf_addc(out, '=') == -1 || buf_adds(out, v) == -1) return -1;
  return buf_addc(out, 0);
}

static int itemu(struct buf *out, const char *k, unsigned v)
{
  char t[16];
  snprintf(t, sizeof t, "%u", v);
  return item(out, k, t);
}

int dset_filter_encode(const struct dset_filter *f, struct buf *out)
{
  size_t i;
  if (item(out, "n", f->name) == -1) return -1;
  for (i = 0; i < f->ncond; i++)
    if (item(out, "h", f->header[i]) == -1 || item(out, "p", f->pattern[i]) == -1) return -1;
  for (i = 0; i < f->nxcond; i++)
    if (item(out, "xh", f->xheader[i]) == -1 || item(out, "xp", f->xpattern[i]) == -1) return -1;
  if (f->maxconn && itemu(out, "m", f->maxconn) == -1) return -1;
  if (f->interval && itemu(out, "i", f->interval) == -1) return -1;
  if (f->nips && itemu(out, "ips", f->nips) == -1) return -1;
  if (f->prio && itemu(out, "pr", f->prio) == -1) return -1;
  for (i = 0; i < f->nwin; i++) {
    struct buf w = BUF_ZERO;
    int r = win_fmt(&w, &f->win[i]) == -1 ? -1 : item(out, "w", w.s);
    buf_free(&w);
    if (r == -1) return -1;
  }
  if (f->addr && (item(out, "a", f->addr) == -1 || item(out, "mode", f->rewrite ? "rewrite" : "copy") == -1))
    return -1;
  return 0;
}

int dset_filter_decode(struct dset_filter *f, const char *p, size_t n)
{
  const char *end = p + n, *h = 0, *xh = 0;
  struct buf err = BUF_ZERO;
  dset_filter_init(f);
  while (p < end) {
    const char *z = memchr(p, 0, (size_t)(end - p)), *eq, *v;
    size_t kn;
    unsigned u;
    if (!z) goto bad;
    eq = memchr(p, '=', (size_t)(z - p));
    if (!eq) goto bad;
    kn = (size_t)(eq - p);
    v = eq + 1;
#define K(s) (kn == sizeof s - 1 && !memcmp(p, s, kn))
    if (K("n")) { free(f->name); if (!(f->name = strdup(v))) goto nomem; }
    else if (K("h")) h = v;
    else if (K("xh")) xh = v;
    else if (K("p")) { if (!h || add_cond(f->header, f->pattern, &f->ncond, h, v, &err) == -1) goto bad; }
    else if (K("xp")) { if (!xh || add_cond(f->xheader, f->xpattern, &f->nxcond, xh, v, &err) == -1) goto bad; }
    else if (K("m")) { if (num(v, 1000000, &f->maxconn) == -1) goto bad; }
    else if (K("i")) { if (num(v, 1000000, &f->interval) == -1) goto bad; }
    else if (K("ips")) { if (num(v, 1000000, &f->nips) == -1) goto bad; }
    else if (K("pr")) { if (num(v, 1000, &u) == -1) goto bad; f->prio = u; }
    else if (K("w")) {
      if (f->nwin == DSET_WINDOWS_MAX || dset_window_parse(v, &f->win[f->nwin]) == -1) goto bad;
      f->nwin++;
    }
    else if (K("a")) { free(f->addr); if (!(f->addr = strdup(v))) goto nomem; }
    else if (K("mode")) f->rewrite = !strcmp(v, "rewrite");
    /* unknown items: a later version's; ignored */
#undef K
    p = z + 1;
  }
  buf_free(&err);
  if (!f->name) goto bad;
  return 0;
nomem:
  buf_free(&err);
  dset_filter_free(f);
  return errno = ENOMEM, -1;
bad:
  buf_free(&err);
  if (errno == ENOMEM) { dset_filter_free(f); return -1; }
  dset_filter_free(f);
  return errno = EINVAL, -1;
}

/* --- transactions --- */

typedef int txn_fn(struct tbl *t, struct tbl_txn *x, void *ctx);

static int bump(struct tbl *t, struct tbl_txn *x)
{
  struct buf v = BUF_ZERO;
  unsigned long long g = 0;
  char s[32];
  int r = tbl_get_rmw(t, x, DSET_TABLE, GEN_KEY, GEN_KEYLEN, &v);
  if (r == -1) return -1;
  if (r == 0 && buf_addc(&v, 0) == 0) g = strtoull(v.s, 0, 10);
  buf_free(&v);
  snprintf(s, sizeof s, "%llu", g + 1);
  return tbl_put(t, x, DSET_TABLE, GEN_KEY, GEN_KEYLEN, s, strlen(s));
}

/* fn and the generation in one transaction, retried on deadlock. */
static int in_txn(struct tbl *t, txn_fn *fn, void *ctx)
{
  int tries, e = EIO;
  for (tries = 0; tries < TXN_TRIES; tries++) {
    struct tbl_txn *x;
    int r;
    if (tbl_begin(t, &x) == -1) return -1;
    r = fn ? fn(t, x, ctx) : 0;
    if (r >= 0 && bump(t, x) == 0) {
      if (tbl_commit(x) == 0) return r;
    } else {
      e = errno;
      tbl_abort(x);
      errno = e;
    }
    e = errno;
    if (e != EDEADLK) break;
  }
  return errno = e, -1;
}

int dset_touch(struct tbl *t)
{
  return in_txn(t, 0, 0);
}

int dset_generation(struct tbl *t, unsigned long long *gen)
{
  struct buf v = BUF_ZERO;
  int r = tbl_get(t, 0, DSET_TABLE, GEN_KEY, GEN_KEYLEN, &v);
  *gen = 0;
  if (r == 0 && buf_addc(&v, 0) == 0) *gen = strtoull(v.s, 0, 10);
  buf_free(&v);
  return r == -1 ? -1 : 0;
}

/* TENANT \0 COMP \0 what... (comp 0: the prefix of every composition) */
static int key(struct buf *k, const char *tenant, const char *comp, const char *what, size_t wn)
{
  buf_trunc(k, 0);
  if (buf_addz(k, tenant) == -1) return -1;
  if (!comp) return 0;
  if (buf_addz(k, comp) == -1) return -1;
  return what ? buf_add(k, what, wn) : 0;
}

static int need(struct tbl *t, const char *tenant, const char *comp)
{
  int r;
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp))) return errno = EINVAL, -1;
  r = tenant_exists(t, tenant);
  if (r == -1) return -1;
  if (r == 0) return errno = ENOENT, -1;
  return 0;
}

/* --- filter lists --- */

struct flist {
  struct tbl *t;
  const char *tenant, *comp;
  enum dset_kind k;
  struct buf prefix;
  struct buf *rec;                   /* records in order */
  size_t n, cap;
  /* the change */
  const struct dset_filter *put;
  const char *name;
  int del;
  size_t pos;
};

static int collect(void *ctx, const void *k, size_t kn, const void *v, size_t vn)
{
  struct flist *l = ctx;
  if (kn < l->prefix.len || memcmp(k, l->prefix.s, l->prefix.len)) return 1;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    struct buf *nr = realloc(l->rec, nc * sizeof *nr);
    if (!nr) return errno = ENOMEM, -1;
    l->rec = nr;
    l->cap = nc;
  }
  memset(&l->rec[l->n], 0, sizeof l->rec[l->n]);
  if (buf_set(&l->rec[l->n], v, vn) == -1) return -1;
  l->n++;
  return 0;
}

static void flist_clear(struct flist *l)
{
  size_t i;
  for (i = 0; i < l->n; i++) buf_free(&l->rec[i]);
  l->n = 0;
}

static int prefix_of(struct flist *l)
{
  char w[3] = { 'f', 0, kindc[l->k] };
  return key(&l->prefix, l->tenant, l->comp, w, 3);
}

/* The name stored in a record, or "" */
static const char *rec_name(const struct buf *r)
{
  if (r->len > 2 && r->s[0] == 'n' && r->s[1] == '=' && memchr(r->s, 0, r->len)) return r->s + 2;
  return "";
}

static int change_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct flist *l = ctx;
  struct buf k = BUF_ZERO, nr = BUF_ZERO;
  size_t i, at = (size_t)-1;
  int r = -1, found = 0;
  flist_clear(l);
  if (prefix_of(l) == -1) return -1;
  if (tbl_walk(t, x, DSET_TABLE, l->prefix.s, l->prefix.len, 0, collect, l) == -1) return -1;
  for (i = 0; i < l->n; i++)
    if (!strcmp(rec_name(&l->rec[i]), l->put ? l->put->name : l->name)) { at = i; found = 1; break; }
  if (!found && !l->put) { r = 1; goto out; }
  /* delete every key of the list, then write it anew in order */
  for (i = 0; i < l->n; i++) {
    char seq[24];
    snprintf(seq, sizeof seq, "%04zu", i + 1);
    if (buf_set(&k, l->prefix.s, l->prefix.len) == -1 || buf_addc(&k, 0) == -1 || buf_adds(&k, seq) == -1
        || tbl_del(t, x, DSET_TABLE, k.s, k.len) == -1)
      goto out;
  }
  if (l->put) {
    if (dset_filter_encode(l->put, &nr) == -1) goto out;
    if (found) {
      if (buf_set(&l->rec[at], nr.s, nr.len) == -1) goto out;
    } else {
      struct buf *g;
      if (l->n >= DSET_FILTERS_MAX) { errno = E2BIG; goto out; }
      if (l->n == l->cap) {
        if (!(g = realloc(l->rec, (l->cap + 1) * sizeof *g))) goto out;
        l->rec = g;
        l->cap++;
      }
      memset(&l->rec[l->n], 0, sizeof l->rec[l->n]);
      if (buf_set(&l->rec[l->n], nr.s, nr.len) == -1) goto out;
      l->n++;
    }
  } else {
    struct buf mv = l->rec[at];
    memmove(l->rec + at, l->rec + at + 1, (l->n - at - 1) * sizeof *l->rec);
    if (l->del) {
      buf_free(&mv);
      l->n--;
    } else {
      size_t to = l->pos == 0 ? 0 : l->pos - 1;
      if (to > l->n - 1) to = l->n - 1;
      memmove(l->rec + to + 1, l->rec + to, (l->n - 1 - to) * sizeof *l->rec);
      l->rec[to] = mv;
    }
  }
  for (i = 0; i < l->n; i++) {
    char seq[24];
    snprintf(seq, sizeof seq, "%04zu", i + 1);
    if (buf_set(&k, l->prefix.s, l->prefix.len) == -1 || buf_addc(&k, 0) == -1 || buf_adds(&k, seq) == -1
        || tbl_put(t, x, DSET_TABLE, k.s, k.len, l->rec[i].s, l->rec[i].len) == -1)
      goto out;
  }
  r = 0;
out:
  buf_free(&k);
  buf_free(&nr);
  return r;
}

static int change(struct flist *l)
{
  int r;
  if (need(l->t, l->tenant, l->comp) == -1) return -1;
  r = in_txn(l->t, change_tx, l);
  flist_clear(l);
  free(l->rec);
  buf_free(&l->prefix);
  return r;
}

int dset_filter_put(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const struct dset_filter *f, struct buf *err)
{
  struct flist l;
  int r;
  if (dset_filter_check(k, f, err) == -1) return -1;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.put = f;
  r = change(&l);
  if (r == -1 && errno == E2BIG) {
    buf_printf(err, "more than %d %s filters", DSET_FILTERS_MAX, dset_kind_name(k));
    errno = EINVAL;
  }
  return r;
}

int dset_filter_del(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                    const char *name)
{
  struct flist l;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.name = name; l.del = 1;
  return change(&l);
}

int dset_filter_move(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     const char *name, size_t pos)
{
  struct flist l;
  memset(&l, 0, sizeof l);
  l.t = t; l.tenant = tenant; l.comp = comp; l.k = k; l.name = name; l.pos = pos;
  return change(&l);
}

struct walk {
  const char *tenant, *comp;
  enum dset_kind k;
  struct buf prefix, last;
  size_t pos;
  dset_filter_fn *fn;
  void *ctx;
};

static int list_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct walk *w = ctx;
  const char *k = kp, *comp, *z;
  struct dset_filter f;
  int r;
  if (kn < w->prefix.len || memcmp(k, w->prefix.s, w->prefix.len)) return 1;
  comp = k + strlen(w->tenant) + 1;
  z = memchr(comp, 0, kn - (size_t)(comp - k));
  /* TENANT \0 COMP \0 f \0 K \0 NNNN */
  if (!z || (size_t)(k + kn - z) < 6 || z[1] != 'f' || z[2] || z[3] != kindc[w->k] || z[4]) return 0;
  if (!w->last.s || strcmp(w->last.s, comp)) {
    if (buf_set(&w->last, comp, (size_t)(z - comp)) == -1 || buf_addc(&w->last, 0) == -1) return -1;
    w->pos = 0;
  }
  w->pos++;
  if (dset_filter_decode(&f, v, vn) == -1) return errno == ENOMEM ? -1 : 0;
  r = w->fn(w->ctx, comp, w->pos, &f);
  dset_filter_free(&f);
  return r;
}

int dset_filter_list(struct tbl *t, const char *tenant, const char *comp, enum dset_kind k,
                     dset_filter_fn *fn, void *ctx)
{
  struct walk w;
  int r;
  char what[3] = { 'f', 0, kindc[k] };
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp)) || (unsigned)k >= DSET_NKIND)
    return errno = EINVAL, -1;
  memset(&w, 0, sizeof w);
  w.tenant = tenant; w.comp = comp; w.k = k; w.fn = fn; w.ctx = ctx;
  if (key(&w.prefix, tenant, comp, what, 3) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, w.prefix.s, w.prefix.len, 0, list_one, &w);
  buf_free(&w.prefix);
  buf_free(&w.last);
  return r == 1 ? 0 : r;
}

/* --- default speed --- */

int dset_speed_check(const struct dset_speed *s, struct buf *err)
{
  struct dset_filter f;
  char *h = "To", *p = ".*";
  int r;
  dset_filter_init(&f);
  f.name = "default";
  f.ncond = 1;
  f.header[0] = h;
  f.pattern[0] = p;
  f.maxconn = s->maxconn;
  f.interval = s->interval;
  f.nips = s->nips;
  r = dset_filter_check(DSET_SPEED, &f, err);
  return r;
}

struct sp {
  const char *tenant, *comp;
  const struct dset_speed *s;
  int del;
};

static int speed_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct sp *o = ctx;
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  int r = -1;
  if (key(&k, o->tenant, o->comp, "d", 1) == -1) goto out;
  if (o->del) {
    r = tbl_del(t, x, DSET_TABLE, k.s, k.len);
    goto out;
  }
  if (itemu(&v, "m", o->s->maxconn) == -1 || itemu(&v, "i", o->s->interval) == -1
      || itemu(&v, "ips", o->s->nips) == -1)
    goto out;
  r = tbl_put(t, x, DSET_TABLE, k.s, k.len, v.s, v.len);
out:
  buf_free(&k);
  buf_free(&v);
  return r;
}

int dset_speed_set(struct tbl *t, const char *tenant, const char *comp,
                   const struct dset_speed *s, struct buf *err)
{
  struct sp o = { tenant, comp, s, 0 };
  if (dset_speed_check(s, err) == -1) return -1;
  if (need(t, tenant, comp) == -1) return -1;
  return in_txn(t, speed_tx, &o);
}

int dset_speed_unset(struct tbl *t, const char *tenant, const char *comp)
{
  struct sp o = { tenant, comp, 0, 1 };
  if (need(t, tenant, comp) == -1) return -1;
  return in_txn(t, speed_tx, &o);
}

int dset_speed_get(struct tbl *t, const char *tenant, const char *comp, struct dset_speed *s)
{
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  struct dset_filter f;
  int r;
  memset(s, 0, sizeof *s);
  if (!tenant_name_ok(tenant) || !tenant_comp_ok(comp)) return errno = EINVAL, -1;
  if (key(&k, tenant, comp, "d", 1) == -1) { buf_free(&k); return -1; }
  r = tbl_get(t, 0, DSET_TABLE, k.s, k.len, &v);
  if (r == 0) {
    /* the items of a filter record without its name */
    struct buf rec = BUF_ZERO;
    if (item(&rec, "n", "default") == -1 || buf_add(&rec, v.s, v.len) == -1
        || dset_filter_decode(&f, rec.s, rec.len) == -1) {
      r = errno == ENOMEM ? -1 : 1;
    } else {
      s->maxconn = f.maxconn;
      s->interval = f.interval;
      s->nips = f.nips;
      dset_filter_free(&f);
    }
    buf_free(&rec);
  }
  buf_free(&k);
  buf_free(&v);
  return r;
}

/* --- sending IPs --- */

static int ip_canon(const char *ip, char *out, size_t n)
{
  unsigned char a[16];
  if (inet_pton(AF_INET, ip, a) == 1) return inet_ntop(AF_INET, a, out, (socklen_t)n) ? 0 : -1;
  if (inet_pton(AF_INET6, ip, a) == 1) return inet_ntop(AF_INET6, a, out, (socklen_t)n) ? 0 : -1;
  return -1;
}

struct ipop {
  const char *tenant, *comp, *ip;
  int del;
};

static int ip_tx(struct tbl *t, struct tbl_txn *x, void *ctx)
{
  struct ipop *o = ctx;
  struct buf k = BUF_ZERO, v = BUF_ZERO;
  int r = -1;
  if (key(&k, o->tenant, o->comp, "i", 2) == -1 || buf_adds(&k, o->ip) == -1) goto out;
  if (o->del) {
    r = tbl_del(t, x, DSET_TABLE, k.s, k.len);
    goto out;
  }
  r = tbl_get(t, x, DSET_TABLE, k.s, k.len, &v);
  if (r != 1) goto out;              /* there already (0), or an error */
  r = tbl_put(t, x, DSET_TABLE, k.s, k.len, "", 0) == -1 ? -1 : 0;
  if (r == 0) r = 2;                 /* added */
out:
  buf_free(&k);
  buf_free(&v);
  return r;
}

struct iplist {
  const char *tenant;
  struct buf prefix, comp;
  size_t n;
  dset_ip_fn *fn;
  void *ctx;
};

static int ip_one(void *ctx, const void *kp, size_t kn, const void *v, size_t vn)
{
  struct iplist *l = ctx;
  const char *k = kp, *comp, *z;
  struct buf ip = BUF_ZERO;
  int r;
  (void)v; (void)vn;
  if (kn < l->prefix.len || memcmp(k, l->prefix.s, l->prefix.len)) return 1;
  comp = k + strlen(l->tenant) + 1;
  z = memchr(comp, 0, kn - (size_t)(comp - k));
  if (!z || (size_t)(k + kn - z) < 3 || z[1] != 'i' || z[2]) return 0;
  if (buf_set(&l->comp, comp, (size_t)(z - comp)) == -1 || buf_addc(&l->comp, 0) == -1
      || buf_set(&ip, z + 3, (size_t)(k + kn - z - 3)) == -1 || buf_addc(&ip, 0) == -1) {
    buf_free(&ip);
    return -1;
  }
  l->n++;
  r = l->fn ? l->fn(l->ctx, l->comp.s, ip.s) : 0;
  buf_free(&ip);
  return r;
}

int dset_ip_list(struct tbl *t, const char *tenant, const char *comp, dset_ip_fn *fn, void *ctx)
{
  struct iplist l;
  int r;
  if (!tenant_name_ok(tenant) || (comp && !tenant_comp_ok(comp))) return errno = EINVAL, -1;
  memset(&l, 0, sizeof l);
  l.tenant = tenant; l.fn = fn; l.ctx = ctx;
  if (key(&l.prefix, tenant, comp, comp ? "i" : 0, 2) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, l.prefix.s, l.prefix.len, 0, ip_one, &l);
  buf_free(&l.prefix);
  buf_free(&l.comp);
  return r == 1 ? 0 : r;
}

int dset_ip_add(struct tbl *t, const char *tenant, const char *comp, const char *ip,
                struct buf *err)
{
  char c[64];
  struct ipop o;
  struct iplist l;
  int r;
  if (ip_canon(ip, c, sizeof c) == -1) {
    buf_printf(err, "not an IPv4 or IPv6 address: %s", ip);
    return errno = EINVAL, -1;
  }
  if (need(t, tenant, comp) == -1) return -1;
  memset(&l, 0, sizeof l);
  l.tenant = tenant;
  if (key(&l.prefix, tenant, comp, "i", 2) == -1) return -1;
  r = tbl_walk(t, 0, DSET_TABLE, l.prefix.s, l.prefix.len, 0, ip_one, &l);
  buf_free(&l.prefix);
  buf_free(&l.comp);
  if (r == -1) return -1;
  if (l.n >= DSET_IPS_MAX) {
    buf_printf(err, "more than %d sending IPs", DSET_IPS_MAX);
    return errno = EINVAL, -1;
  }
  o.tenant = tenant; o.comp = comp; o.ip = c; o.del = 0;
  r = in_txn(t, ip_tx, &o);
  return r == -1 ? -1 : r == 2 ? 0 : 1;
}

int dset_ip_del(struct tbl *t, const char *tenant, const char *comp, const char *ip)
{
  char c[64];
  struct ipop o;
  if (ip_canon(ip, c, sizeof c) == -1) return errno = EINVAL, -1;
  if (need(t, tenant, comp) == -1) return -1;
  o.tenant = tenant; o.comp = comp; o.ip = c; o.del = 1;
  return in_txn(t, ip_tx, &o);
}

/* --- scalar settings --- */

static int tz_ok(const char *tz, struct buf *err)
{
  char path[512], head[4];
  size_t i, n = strlen(tz);
  int fd, ok = 0;
  if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, ".."))
    goto bad;
  for (i = 0; i < n; i++)
    if (!((tz[i] >= 'a' && tz[i] <= 'z') || (tz[i] >= 'A' && tz[i] <= 'Z') || (tz[i] >= '0' && tz[i] <= '9')
          || strchr("/_+-", tz[i])))
      goto bad;
  snprintf(path, sizeof path, "%s/%s", DSET_ZONEINFO, tz);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd != -1) {
    ok = read(fd, head, 4) == 4 && !memcmp(head, "TZif", 4);
    close(fd);
  }
  if (ok) return 1;
bad:
  buf_printf(err, "unknown time zone %s (want an IANA name such as Asia/Tokyo)", tz);
  return 0;
}

static int url_ok(const char *u)
{
  size_t i, n = strlen(u);
  if (n <= 8 || n > DSET_URL_MAX || strncmp(u, "https://", 8)) return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)u[i] <= 32 || (unsigned char)u[i] >= 127 || strchr("<>,\"\\", u[i])) return 0;
  return 1;
}

int dset_value_ok(const char *k, const char *v, struct buf *err)
{
  unsigned x;
  if (!strcmp(k, "timezone")) return tz_ok(v, err);
  if (!strcmp(k, "received")) {
    if (!strcmp(v, "abbreviated") || !strcmp(v, "normal") || !strcmp(v, "none") || !strcmp(v, "delete-all"))
      return 1;
    buf_printf(err, "received %s: want abbreviated, normal, none or delete-all", v);
    return 0;
  }
  if (!strcmp(k, "retry_period")) {
    if (num(v, 100000000, &x) == 0 && x >= DSET_RETRY_PERIOD_MIN && x <= DSET_RETRY_PERIOD_MAX) return 1;
    buf_printf(err, "retry_period %s: want %d to %d seconds", v, DSET_RETRY_PERIOD_MIN, DSET_RETRY_PERIOD_MAX);
    return 0;
  }
  if (!strcmp(k, "retry_interval")) {
    if (num(v, 100000000, &x) == 0 && x >= DSET_RETRY_INTERVAL_MIN && x <= DSET_RETRY_INTERVAL_MAX) return 1;
    buf_printf(err, "retry_interval %s: want %d to %d seconds", v, DSET_RETRY_INTERVAL_MIN,
               DSET_RETRY_INTERVAL_MAX);
    return 0;
  }
  if (!strcmp(k, "unsubscribe_url")) {
    if (url_ok(v)) return 1;
    buf_printf(err, "unsubscribe_url %s: want https://HOST/PATH, printable ASCII without <>,\"\\", v);
    return 0;
  }
  if (!strcmp(k, "unsubscribe_mailto")) {
    if (plain_addr(v)) return 1;
    buf_printf(err, "unsubscribe_mailto %s: want local@domain, plain ASCII", v);
    return 0;
  }
  return 1;
}
