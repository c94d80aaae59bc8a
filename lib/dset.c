/* dset.c: delivery settings that are lists (see dset.h and
   doc/settings.md): the checks every writer runs, the command words, the
   record form, and the rules of the scalar settings.  The table side is
   lib/dsetdb.c. */
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

static const char *const kinds[DSET_NKIND] = { "speed", "priority", "window", "forward", "unsubscribe" };

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

int dset_item(struct buf *out, const char *k, const char *v)
{
  if (buf_adds(out, k) == -1 || buf_addc(out, '=') == -1 || buf_adds(out, v) == -1) return -1;
  return buf_addc(out, 0);
}

int dset_itemu(struct buf *out, const char *k, unsigned v)
{
  char t[16];
  snprintf(t, sizeof t, "%u", v);
  return dset_item(out, k, t);
}

int dset_filter_encode(const struct dset_filter *f, struct buf *out)
{
  size_t i;
  if (dset_item(out, "n", f->name) == -1) return -1;
  for (i = 0; i < f->ncond; i++)
    if (dset_item(out, "h", f->header[i]) == -1 || dset_item(out, "p", f->pattern[i]) == -1) return -1;
  for (i = 0; i < f->nxcond; i++)
    if (dset_item(out, "xh", f->xheader[i]) == -1 || dset_item(out, "xp", f->xpattern[i]) == -1) return -1;
  if (f->maxconn && dset_itemu(out, "m", f->maxconn) == -1) return -1;
  if (f->interval && dset_itemu(out, "i", f->interval) == -1) return -1;
  if (f->nips && dset_itemu(out, "ips", f->nips) == -1) return -1;
  if (f->prio && dset_itemu(out, "pr", f->prio) == -1) return -1;
  for (i = 0; i < f->nwin; i++) {
    struct buf w = BUF_ZERO;
    int r = win_fmt(&w, &f->win[i]) == -1 ? -1 : dset_item(out, "w", w.s);
    buf_free(&w);
    if (r == -1) return -1;
  }
  if (f->addr && (dset_item(out, "a", f->addr) == -1 || dset_item(out, "mode", f->rewrite ? "rewrite" : "copy") == -1))
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
