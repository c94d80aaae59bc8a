/* dqsched_result.c: the other half of deliver's scheduler: worker
   results turned into new recipient states, their events and suppression
   entries, committed in one transaction per batch; final messages then
   leave the spool.  Also the end of a worker job (freed, or its busy
   recipients deferred).  See dqsched.h; planning is in dqsched.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "dqdb.h"
#include "dqprep.h"
#include "dqsched.h"
#include "dqsched_result.h"
#include "dsetrun.h"
#include "event.h"
#include "suppress.h"
#include "tenant.h"

struct dqsched_upd {
  struct dq_msg *m;
  size_t idx;
  int status, err, cls;
  int sup;                           /* add the recipient to the suppression list */
  long long time;
  unsigned usec;
  char *reply, *remote, *local_ip;
};

/* --- results --- */
void dqsched_batch_init(struct dqsched_batch *b)
{
  memset(b, 0, sizeof *b);
}

static void retry_settings(struct dqsched *q, const struct dq_msg *m,
                           long long *period, long long *interval)
{
  static const char *const keys[2] = { "retry_period", "retry_interval" };
  long long *out[2] = { period, interval };
  struct buf v = BUF_ZERO;
  int i;
  *period = q->period;
  *interval = q->interval;
  for (i = 0; i < 2; i++) {
    int r = dqdb_ready(q) == 0 ? tenant_get(q->db, m->tenant, m->comp, keys[i], &v) : 1;
    if (r == 0) {
      char *end;
      long long x;
      errno = 0;
      x = strtoll(v.s, &end, 10);
      if (!errno && end != v.s && !*end && x > 0) *out[i] = x;
    } else if (r == -1) {
      dqdb_read_failed(q);
    }
  }
  buf_free(&v);
}

/* Does a failure with status err put the address on the suppression
   list of m's tenant and composition (settings suppress_auto,
   suppress_statuses)?  On a database error: the default rule. */
static int suppress_setting(struct dqsched *q, const struct dq_msg *m, int err)
{
  struct buf a = BUF_ZERO, st = BUF_ZERO;
  int ra = 1, rs = 1, r;
  if (dqdb_ready(q) == 0) {
    ra = tenant_get(q->db, m->tenant, m->comp, "suppress_auto", &a);
    if (ra != -1) rs = tenant_get(q->db, m->tenant, m->comp, "suppress_statuses", &st);
    if (ra == -1 || rs == -1) dqdb_read_failed(q);
  }
  r = suppress_wanted(ra == 0 ? a.s : 0, rs == 0 ? st.s : 0, err);
  buf_free(&a);
  buf_free(&st);
  return r;
}

static char *dup_or_empty(const char *s)
{
  return strdup(s ? s : "");
}

/* The state change one result makes, in memory, and its event queued. */
int dqsched_apply(struct dqsched *q, struct dqsched_batch *b, struct dq_msg *m,
                  size_t idx, int kind, int err, const char *reply,
                  const char *remote, const char *local_ip)
{
  struct dq_rcpt *rc = &m->r[idx];
  struct dqsched_upd *u;
  struct timeval tv;
  if (b->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 16;
    struct dqsched_upd *nu = realloc(b->u, nc * sizeof *nu);
    if (!nu) return errno = ENOMEM, -1;
    b->u = nu;
    b->cap = nc;
  }
  u = &b->u[b->n];
  memset(u, 0, sizeof *u);
  u->reply = dup_or_empty(reply);
  u->remote = dup_or_empty(remote);
  u->local_ip = dup_or_empty(local_ip);
  if (!u->reply || !u->remote || !u->local_ip) {
    free(u->reply);
    free(u->remote);
    free(u->local_ip);
    return errno = ENOMEM, -1;
  }
  gettimeofday(&tv, 0);
  u->m = m;
  u->idx = idx;
  u->time = (long long)tv.tv_sec;
  u->usec = (unsigned)tv.tv_usec;
  rc->busy = 0;
  rc->attempts++;
  if (!rc->first) rc->first = u->time;
  if (kind == DQ_SUCCEEDED) {
    rc->state = DQ_SUCCEEDED;
    u->status = EV_SUCCEEDED;
  } else if (kind == DQ_FAILED) {
    rc->state = DQ_FAILED;
    u->status = EV_FAILED;
    u->err = err ? err : ERR_OTHER;
    u->sup = suppress_setting(q, m, u->err);
  } else {
    long long period, interval, next;
    retry_settings(q, m, &period, &interval);
    /* Time held by a prohibited window does not count against the period. */
    next = dq_retry_next(period, interval,
                         m->accepted + (q->dset ? dsetrun_held(q->dset, m, idx, m->accepted, u->time) : 0),
                         u->time, rc->attempts);
    if (next < 0) {                  /* the retry period is over */
      rc->state = DQ_FAILED;
      u->status = EV_FAILED;
      u->err = ERR_RETRY_TIMEOUT;
      u->cls = err;                  /* the last reply's class: logged */
      u->sup = suppress_setting(q, m, u->err);
    } else {
      rc->next = next;
      u->status = EV_DEFERRED;
      u->cls = err;                  /* what the reply would mean were it final: logged */
    }
  }
  b->n++;
  return 0;
}

int dqsched_result(struct dqsched *q, struct dqsched_batch *b,
                   const struct dqwork_job *job, const struct dq_result *r)
{
  size_t i, j;
  for (i = 0; i < job->nitem; i++) {
    const struct dqwork_item *it = &job->item[i];
    if (strcmp(it->m->id, r->id)) continue;
    for (j = 0; j < it->n; j++)
      if (it->idx[j] == r->idx && it->m->r[r->idx].busy)
        return dqsched_apply(q, b, (struct dq_msg *)it->m, r->idx, r->kind, r->err,
                     r->reply, r->remote, r->local_ip);
  }
  return errno = EINVAL, -1;
}

static int first_of(const struct dqsched_batch *b, size_t i)
{
  size_t j;
  for (j = 0; j < i; j++) if (b->u[j].m == b->u[i].m) return 0;
  return 1;
}

static int commit_tx(struct dqsched *q, struct tbl_txn *x, void *ctx)
{
  struct dqsched_batch *b = ctx;
  size_t i;
  for (i = 0; i < b->n; i++) {
    const struct dqsched_upd *u = &b->u[i];
    struct event e;
    dqdb_event(&e, u->m, u->idx);
    e.time = u->time;
    e.usec = u->usec;
    e.status = u->status;
    e.error = u->err;
    e.reply = u->reply;
    e.remote = u->remote;
    e.sender_ip = u->local_ip;
    if (event_add(q->db, x, &e) == -1) return -1;
    /* EINVAL: an address the list cannot hold (no '@'): not listed. */
    if (u->sup && suppress_add(q->db, x, u->m->tenant, u->m->comp, u->m->r[u->idx].addr,
                               u->err, u->time) == -1 && errno != EINVAL)
      return -1;
  }
  for (i = 0; i < b->n; i++)
    if (first_of(b, i) && dqdb_put(q, x, b->u[i].m) == -1) return -1;
  return 0;
}

static void log_upd(struct dqsched *q, const struct dqsched_upd *u)
{
  struct buf l = BUF_ZERO;
  const char *p;
  char kind = u->status == EV_SUCCEEDED ? 'K' : u->status == EV_FAILED ? 'D' : 'Z';
  if (buf_printf(&l, "delivery id=%s rcpt=%s result=%c", u->m->id, u->m->r[u->idx].addr, kind) == -1)
    goto out;
  if (u->err) buf_printf(&l, " status=%d", u->err);
  if (u->cls) buf_printf(&l, " class=%d", u->cls);
  buf_adds(&l, " relay=\"");
  for (p = u->remote; *p; p++) buf_addc(&l, *p == '"' ? '\'' : *p);
  buf_adds(&l, "\" reply=\"");
  for (p = u->reply; *p; p++) buf_addc(&l, *p == '"' ? '\'' : *p);
  if (buf_addc(&l, '"') == 0) q->log(l.s);
out:
  buf_free(&l);
}

static void msg_release(struct dq_msg *m)
{
  if (m->refs) m->refs--;
  if (m->gone && !m->refs) dq_msg_free(m);
}

int dqsched_batch_commit(struct dqsched *q, struct dqsched_batch *b)
{
  struct dqdb_keys fin = { 0, 0, 0 };
  struct dq_msg **gone = 0;
  size_t i, ngone = 0;
  int r = 0;
  if (b->n == 0) goto out;
  if (dqdb_txn(q, commit_tx, b) == -1) { r = -1; goto out; }
  for (i = 0; i < b->n; i++) if (q->log) log_upd(q, &b->u[i]);
  if (!(gone = calloc(b->n, sizeof *gone))) { r = -1; goto out; }
  /* After the commit: final messages leave the spool, then their rows. */
  for (i = 0; i < b->n; i++) {
    struct dq_msg *m = b->u[i].m;
    char p[4200];
    if (!first_of(b, i) || m->gone || !dq_msg_final(m)) continue;
    if (dqdb_path(p, sizeof p, q, "queue", m->id) == -1 || (unlink(p) == -1 && errno != ENOENT)) {
      if (q->warn) q->warn("unable to remove ", p, errno);
      continue;                      /* resume finishes it */
    }
    if (dqdb_keys_add(&fin, m->id, strlen(m->id)) == -1) { r = -1; break; }
    if (q->log) {
      struct buf l = BUF_ZERO;
      if (buf_printf(&l, "done id=%s", m->id) == 0) q->log(l.s);
      buf_free(&l);
    }
    dqdb_list_del(q, m);
    m->gone = 1;
    m->refs++;                       /* freed below, once the batch is done with it */
    gone[ngone++] = m;
  }
  /* The row goes only once the unlink is durable. */
  if (fin.n && (dqdb_sync(q, "queue") == -1 || dqdb_del(q, &fin) == -1)) r = -1;
out:
  for (i = 0; i < b->n; i++) {
    free(b->u[i].reply);
    free(b->u[i].remote);
    free(b->u[i].local_ip);
  }
  for (i = 0; i < ngone; i++) msg_release(gone[i]);
  free(gone);
  dqdb_keys_free(&fin);
  free(b->u);
  memset(b, 0, sizeof *b);
  return r;
}

/* --- the end of a job --- */
static void items_free(struct dqwork_job *job)
{
  size_t i;
  for (i = 0; i < job->nitem; i++) {
    free(job->item[i].idx);
    msg_release((struct dq_msg *)job->item[i].m);
  }
  free(job->item);
  free((char *)job->dest);
  dqprep_conf_put(job->prep);
  job->prep = 0;
  job->item = 0;
  job->nitem = 0;
  job->dest = 0;
}

void dqsched_job_free(struct dqsched *q, struct dqsched_job *j)
{
  size_t i, k;
  (void)q;
  for (i = 0; i < j->job.nitem; i++)
    for (k = 0; k < j->job.item[i].n; k++)
      ((struct dq_msg *)j->job.item[i].m)->r[j->job.item[i].idx[k]].busy = 0;
  items_free(&j->job);
  free(j->key);
  j->key = 0;
}

int dqsched_job_done(struct dqsched *q, struct dqwork_job *job, const char *why)
{
  struct dqsched_batch b;
  size_t i, k;
  int r = 0;
  dqsched_batch_init(&b);
  for (i = 0; i < job->nitem; i++) {
    struct dq_msg *m = (struct dq_msg *)job->item[i].m;
    for (k = 0; k < job->item[i].n; k++) {
      size_t idx = job->item[i].idx[k];
      if (!m->r[idx].busy) continue;
      if (!why) m->r[idx].busy = 0;
      else if (dqsched_apply(q, &b, m, idx, DQ_DEFERRED, 0, why, "", "") == -1) r = -1;
    }
  }
  if (dqsched_batch_commit(q, &b) == -1) r = -1;
  items_free(job);
  return r;
}
