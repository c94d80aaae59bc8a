/* dqbounce.c: late bounces read from spool/bounce/ by deliver's parent
   (see dqbounce.h): matched by VERP address to a message and recipient,
   classified, recorded as "failed" events; what cannot be matched is kept
   in spool/unmatched/. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "bounce.h"
#include "dqbounce.h"
#include "dqdb.h"
#include "dsetunsub.h"
#include "envelope.h"
#include "event.h"
#include "spool.h"
#include "suppress.h"
#include "tenant.h"

enum { R_MATCHED, R_IGNORED, R_UNMATCHED };

/* What the events of a message say about it and its recipients. */
struct seen_rcpt {
  char *addr;
  int last;                          /* status of its latest event */
};
struct seen {
  struct seen_rcpt *r;
  size_t n, cap;
  char *comp, *message_id, *sender, *from, *subject, *api_data, *source_ip, *user;
};

static void seen_free(struct seen *s)
{
  size_t i;
  for (i = 0; i < s->n; i++) free(s->r[i].addr);
  free(s->r);
  free(s->comp);
  free(s->message_id);
  free(s->sender);
  free(s->from);
  free(s->subject);
  free(s->api_data);
  free(s->source_ip);
  free(s->user);
  memset(s, 0, sizeof *s);
}

static int keep(char **dst, const char *s)
{
  if (*dst) return 0;
  if (!(*dst = strdup(s ? s : ""))) return -1;
  return 0;
}

static int seen_one(void *ctx, const struct event *e)
{
  struct seen *s = ctx;
  size_t i;
  if (!e->rcpt || !*e->rcpt) return 0;
  if (keep(&s->comp, e->composition && *e->composition ? e->composition : "default") == -1
      || keep(&s->message_id, e->message_id) == -1 || keep(&s->sender, e->sender) == -1
      || keep(&s->from, e->from) == -1 || keep(&s->subject, e->subject) == -1
      || keep(&s->api_data, e->api_data) == -1 || keep(&s->user, e->user) == -1)
    return -1;
  if (e->status == EV_QUEUED && keep(&s->source_ip, e->source_ip) == -1) return -1;
  for (i = 0; i < s->n; i++)
    if (!addr_cmp(s->r[i].addr, e->rcpt)) {
      s->r[i].last = (int)e->status;    /* oldest first: the last one wins */
      return 0;
    }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    struct seen_rcpt *nr = realloc(s->r, nc * sizeof *nr);
    if (!nr) return -1;
    s->r = nr;
    s->cap = nc;
  }
  if (!(s->r[s->n].addr = strdup(e->rcpt))) return -1;
  s->r[s->n++].last = (int)e->status;
  return 0;
}

/* --- the record --- */
struct rec {
  struct event e;
  int sup;
};

static int rec_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct rec *r = ctx;
  if (event_add(q->db, x, &r->e) == -1) return -1;
  if (r->sup && suppress_add(q->db, x, r->e.tenant, r->e.composition, r->e.rcpt, r->e.error,
                             r->e.time) == -1 && errno != EINVAL)
    return -1;
  return 0;
}

/* The tenant's choice (suppress_auto, suppress_statuses) for status err. */
static int wants_suppress(struct dqsched *q, const char *tenant, const char *comp, int err)
{
  struct buf a = BUF_ZERO, st = BUF_ZERO;
  int ra = 1, rs = 1, r;
  if (dqdb_ready(q) == 0) {
    ra = tenant_get(q->db, tenant, comp, "suppress_auto", &a);
    if (ra != -1) rs = tenant_get(q->db, tenant, comp, "suppress_statuses", &st);
    if (ra == -1 || rs == -1) dqdb_read_failed(q);
  }
  r = suppress_wanted(ra == 0 ? a.s : 0, rs == 0 ? st.s : 0, err);
  buf_free(&a);
  buf_free(&st);
  return r;
}

static void logf_(struct dqsched *q, struct buf *l)
{
  if (q->log && l->s) q->log(l->s);
  buf_trunc(l, 0);
}

/* The bounce's entry about rcpt: the one naming it, else the first failed
   one, else the first; 0 when there is none. */
static const struct bounce_rcpt *entry_for(const struct bounce *b, const char *rcpt)
{
  int i;
  for (i = 0; i < b->nrcpt; i++)
    if (!addr_cmp(b->rcpt[i].addr, rcpt)) return &b->rcpt[i];
  for (i = 0; i < b->nrcpt; i++)
    if (!strcmp(b->rcpt[i].action, "failed")) return &b->rcpt[i];
  return b->nrcpt ? &b->rcpt[0] : 0;
}

/* Every entry says "delayed": a warning, not a failure. */
static int only_delayed(const struct bounce *b)
{
  int i;
  if (!b->nrcpt) return 0;
  for (i = 0; i < b->nrcpt; i++)
    if (strcmp(b->rcpt[i].action, "delayed")) return 0;
  return 1;
}

/* One VERP recipient of a bounce file. */
static int one_verp(struct dqbounce *d, const char *fid, const char *tenant, const char *to,
                    int parsed, struct buf *l)
{
  struct dqsched *q = d->q;
  char id[VERP_ID_MAX + 1], mac[VERP_MAC_LEN + 1];
  const char *dom, *rcpt = 0, *reply;
  struct seen s;
  struct rec r;
  struct classify_in in;
  struct classify_out out;
  const struct bounce_rcpt *be;
  struct timeval tv;
  struct buf text = BUF_ZERO;
  size_t i;
  int res = R_UNMATCHED, k;
  memset(&s, 0, sizeof s);
  if (verp_parse(to, id, mac, &dom) == -1) {
    buf_printf(l, "bounce file=%s to=%s result=unmatched why=\"not a VERP address\"", fid, to);
    return R_UNMATCHED;
  }
  if (dqdb_ready(q) == -1) return -1;
  k = event_by_id(q->db, tenant, id, seen_one, &s);
  if (k == -1) {
    if (errno == EINVAL) goto unmatched;
    dqdb_read_failed(q);
    seen_free(&s);
    return -1;
  }
  for (i = 0; i < s.n && !rcpt; i++)
    if (verp_check(d->verp, id, s.r[i].addr, mac) == 1) rcpt = s.r[i].addr;
  if (!rcpt) {
unmatched:
    buf_printf(l, "bounce file=%s to=%s id=%s tenant=%s result=unmatched why=\"%s\"", fid, to, id,
               tenant, s.n ? "no recipient of the message has this MAC" : "no such message");
    seen_free(&s);
    return R_UNMATCHED;
  }
  if (!parsed || d->b->kind == BOUNCE_FEEDBACK || d->b->kind == BOUNCE_OTHER) {
    buf_printf(l, "bounce file=%s id=%s rcpt=%s result=unmatched why=\"%s\"", fid, id, rcpt,
               parsed ? bounce_kind_name(d->b->kind) : "unreadable message");
    seen_free(&s);
    return R_UNMATCHED;
  }
  if (d->b->kind != BOUNCE_FAILURE || only_delayed(d->b)) {
    buf_printf(l, "bounce file=%s id=%s rcpt=%s result=ignored why=%s", fid, id, rcpt,
               d->b->kind != BOUNCE_FAILURE ? bounce_kind_name(d->b->kind) : "delayed");
    seen_free(&s);
    return R_IGNORED;
  }
  for (i = 0; i < s.n; i++)
    if (s.r[i].addr == rcpt && s.r[i].last == EV_FAILED) {
      buf_printf(l, "bounce file=%s id=%s rcpt=%s result=ignored why=\"failed already\"", fid, id, rcpt);
      seen_free(&s);
      return R_IGNORED;
    }
  /* Classify the entry about our recipient. */
  be = entry_for(d->b, rcpt);
  memset(&in, 0, sizeof in);
  if (be) {
    in.enhanced = be->status;
    in.text = be->diag[0] ? be->diag : be->ctx;
    in.context = be->ctx;
    in.action = be->action[0] ? be->action : 0;
    in.dtype = be->dtype[0] ? be->dtype : 0;
    in.status = be->status[0] ? be->status : 0;
  } else {
    in.text = d->b->subject;
  }
  if (classify(d->cls, &in, &out) == -1) {
    seen_free(&s);
    return -1;
  }
  if (out.status <= 0) out.status = ERR_OTHER;   /* a failure report: never "success" */
  if (be && be->diag[0]) reply = be->diag;
  else {
    buf_printf(&text, "bounce%s%s: %s", be && be->status[0] ? " " : "", be ? be->status : "",
               d->b->subject[0] ? d->b->subject : "(no subject)");
    reply = text.s ? text.s : "bounce";
  }
  gettimeofday(&tv, 0);
  memset(&r, 0, sizeof r);
  r.e.time = (long long)tv.tv_sec;
  r.e.usec = (unsigned)tv.tv_usec;
  r.e.status = EV_FAILED;
  r.e.error = out.status;
  r.e.tenant = tenant;
  r.e.composition = s.comp;
  r.e.id = id;
  r.e.message_id = s.message_id;
  r.e.sender = s.sender;
  r.e.from = s.from;
  r.e.rcpt = rcpt;
  r.e.subject = s.subject;
  r.e.api_data = s.api_data;
  r.e.reply = reply;
  r.e.remote = be ? be->rmta : "";
  r.e.source_ip = s.source_ip;
  r.e.user = s.user;
  r.sup = wants_suppress(q, tenant, s.comp, out.status);
  if (dqdb_txn(q, rec_tx, &r) == -1) {
    buf_free(&text);
    seen_free(&s);
    return -1;
  }
  buf_printf(l, "bounce file=%s id=%s tenant=%s rcpt=%s result=failed status=%d why=%s%s reply=\"",
             fid, id, tenant, rcpt, out.status, out.why, r.sup ? " suppressed=1" : "");
  for (; *reply && l->len < 900; reply++) buf_addc(l, *reply == '"' ? '\'' : *reply);
  buf_addc(l, '"');
  res = R_MATCHED;
  buf_free(&text);
  seen_free(&s);
  return res;
}

static int unsub_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct dsetunsub *u = ctx;
  int r = suppress_unsub_add(q->db, x, u->tenant.s, u->comp.s, u->rcpt.s, u->filter.s, (long long)time(0));
  return r == -1 ? -1 : 0;
}

/* Mail to unsubscribe@BOUNCE-DOMAIN: the token is the last word of the
   Subject (the mailto URI of List-Unsubscribe puts it there). */
static int one_unsub(struct dqbounce *d, const char *fid, int parsed, struct buf *l)
{
  struct dsetunsub u = { BUF_ZERO, BUF_ZERO, BUF_ZERO, BUF_ZERO };
  const char *subj = parsed ? d->b->subject : "", *tok;
  size_t n = strlen(subj);
  int r;
  while (n && (subj[n - 1] == ' ' || subj[n - 1] == '\t')) n--;
  tok = subj + n;
  while (tok > subj && tok[-1] != ' ' && tok[-1] != '\t' && tok[-1] != ':') tok--;
  if (!d->unsub || tok == subj + n) {
    buf_printf(l, "bounce file=%s to=unsubscribe result=unmatched why=\"%s\"", fid,
               d->unsub ? "no token in the subject" : "no unsubscribe secret");
    return R_UNMATCHED;
  }
  r = dsetunsub_check(d->unsub, tok, (size_t)(subj + n - tok), &u);
  if (r == -1) return -1;
  if (r == 0) {
    dsetunsub_free(&u);
    buf_printf(l, "bounce file=%s to=unsubscribe result=unmatched why=\"bad token\"", fid);
    return R_UNMATCHED;
  }
  if (dqdb_txn(d->q, unsub_tx, &u) == -1) {
    int e = errno;
    dsetunsub_free(&u);
    errno = e;
    return e == EINVAL ? R_UNMATCHED : -1;
  }
  buf_printf(l, "unsubscribe file=%s tenant=%s comp=%s rcpt=%s filter=%s result=listed", fid,
             u.tenant.s, u.comp.s, u.rcpt.s, u.filter.s);
  dsetunsub_free(&u);
  return R_MATCHED;
}

static int local_is(const char *addr, const char *name)
{
  size_t n = strlen(name);
  return !strncasecmp(addr, name, n) && addr[n] == '@';
}

/* Handle bounce/ID.  0 done (removed or moved), -1 db trouble (left). */
static int one_file(struct dqbounce *d, const char *fid)
{
  struct dqsched *q = d->q;
  struct buf file = BUF_ZERO, l = BUF_ZERO;
  struct envelope e;
  char from[4200], to[4200];
  size_t off = 0, i;
  int parsed = 0, any_unmatched = 0, r = 0, k;
  memset(&e, 0, sizeof e);
  if (dqdb_path(from, sizeof from, q, "bounce", fid) == -1
      || dqdb_path(to, sizeof to, q, "unmatched", fid) == -1)
    return 0;
  if (spool_read(from, &file, &e, &off) == -1) {
    if (errno == ENOENT) goto out;
    if (errno != EINVAL) { r = -1; goto out; }
    buf_printf(&l, "bounce file=%s result=unmatched why=\"unreadable spool file\"", fid);
    logf_(q, &l);
    any_unmatched = 1;
    goto move;
  }
  bounce_init(d->b);
  k = bounce_parse(d->b, file.s + off, file.len - off);
  if (k == -1 && errno == ENOMEM) { r = -1; goto out; }
  parsed = k == 0;
  for (i = 0; i < e.nrcpt; i++) {
    const char *rc = e.rcpt[i];
    if (local_is(rc, "unsubscribe")) k = one_unsub(d, fid, parsed, &l);
    else if (local_is(rc, "postmaster") || local_is(rc, "abuse")) {
      buf_printf(&l, "bounce file=%s to=%s result=unmatched why=\"mail for %s\"", fid, rc, rc);
      k = R_UNMATCHED;
    } else {
      k = one_verp(d, fid, e.tenant, rc, parsed, &l);
    }
    if (k == -1) { r = -1; goto out; }
    logf_(q, &l);
    if (k == R_UNMATCHED) any_unmatched = 1;
  }
move:
  /* The events are in; now the file goes, whole, or to unmatched/. */
  if (any_unmatched) {
    if (rename(from, to) == -1 && errno != ENOENT) {
      if (q->warn) q->warn("unable to move to unmatched/: ", fid, errno);
      r = -1;
      goto out;
    }
    dqdb_sync(q, "unmatched");
  } else if (unlink(from) == -1 && errno != ENOENT) {
    if (q->warn) q->warn("unable to remove ", from, errno);
    r = -1;
    goto out;
  }
  dqdb_sync(q, "bounce");
out:
  if (e.rcpt) envelope_free(&e);
  buf_free(&file);
  buf_free(&l);
  return r;
}

int dqbounce_init(struct dqbounce *d, struct dqsched *q, const struct classify *cls,
                  const struct verp_key *verp, const struct verp_key *unsub)
{
  static const char *const sub[] = { "bounce", "unmatched" };
  char p[4200];
  size_t i;
  memset(d, 0, sizeof *d);
  for (i = 0; i < 2; i++) {
    if (dqdb_path(p, sizeof p, q, sub[i], 0) == -1) return -1;
    if (mkdir(p, 0700) == -1 && errno != EEXIST) return -1;
  }
  if (!(d->b = calloc(1, sizeof *d->b))) return errno = ENOMEM, -1;
  bounce_init(d->b);
  d->q = q;
  d->cls = cls;
  d->verp = verp;
  d->unsub = unsub;
  return 0;
}

void dqbounce_free(struct dqbounce *d)
{
  if (d->b) {
    bounce_free(d->b);
    free(d->b);
  }
  d->b = 0;
}

int dqbounce_take(struct dqsched *q, const char *id)
{
  char from[4200], to[4200];
  if (dqdb_path(from, sizeof from, q, "new", id) == -1 || dqdb_path(to, sizeof to, q, "bounce", id) == -1)
    return -1;
  if (rename(from, to) == -1) return -1;
  /* Durable in bounce/ before new/ forgets it. */
  if (dqdb_sync(q, "bounce") == -1 || dqdb_sync(q, "new") == -1) return -1;
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

long dqbounce_run(struct dqbounce *d)
{
  char dp[4200], *names[DQBOUNCE_BATCH];
  DIR *dir;
  struct dirent *de;
  size_t n = 0, i;
  long done = 0;
  if (dqdb_path(dp, sizeof dp, d->q, "bounce", 0) == -1 || !(dir = opendir(dp))) return -1;
  while (n < DQBOUNCE_BATCH && (de = readdir(dir))) {
    if (!spool_id_ok(de->d_name)) continue;
    if (!(names[n] = strdup(de->d_name))) break;
    n++;
  }
  closedir(dir);
  qsort(names, n, sizeof *names, cmp_str);
  for (i = 0; i < n; i++) {
    if (done >= 0) {
      if (one_file(d, names[i]) == -1) done = -1;
      else done++;
    }
    free(names[i]);
  }
  return done;
}
