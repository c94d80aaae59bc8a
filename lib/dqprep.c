/* dqprep.c: one recipient's copy of a message: envelope sender and bytes
   (see dqprep.h for the fixed order of the steps).  The settings are read
   here from db/ by deliver's parent, before any worker forks; the worker
   side (dqprep_message) touches no database and no environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dqprep.h"
#include "dsetrun.h"
#include "tenant.h"

int dqprep_default_bounce_domain(char *out, size_t n, const char *tenant, const char *hostname)
{
  size_t i;
  int r = snprintf(out, n, "return.%s.%s", tenant ? tenant : "", hostname ? hostname : "");
  if (r < 0 || (size_t)r >= n) return errno = ENAMETOOLONG, -1;
  for (i = 0; out[i]; i++)
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = (char)(out[i] - 'A' + 'a');
  return 0;
}

/* A setting as text: 0 found (in v), 1 unset, -1 database error. */
static int setting(struct tbl *db, const char *tenant, const char *comp, const char *key,
                   struct buf *v)
{
  int r = tenant_get(db, tenant, comp, key, v);
  if (r == -1 && errno == EINVAL) return 1;     /* a name tenant.c refuses has no settings */
  return r;
}

static int is_off(const char *s)
{
  return !strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "0") || !strcmp(s, "false");
}

struct dqprep_conf *dqprep_conf_load(struct tbl *db, const char *tenant, const char *comp,
                                     const struct dqprep_env *env)
{
  struct dqprep_conf *c = calloc(1, sizeof *c);
  struct buf v = BUF_ZERO;
  int r;
  if (!c) return errno = ENOMEM, (struct dqprep_conf *)0;
  c->refs = 1;
  c->verp = 1;
  if ((r = setting(db, tenant, comp, "verp", &v)) == -1) goto fail;
  if (r == 0 && is_off(v.s)) c->verp = 0;
  if ((r = setting(db, tenant, comp, "bounce_domain", &v)) == -1) goto fail;
  if (r == 0 && v.len && v.len < sizeof c->bounce_domain) {
    size_t i;
    for (i = 0; i < v.len; i++)
      c->bounce_domain[i] = (char)(v.s[i] >= 'A' && v.s[i] <= 'Z' ? v.s[i] - 'A' + 'a' : v.s[i]);
    c->bounce_domain[v.len] = 0;
  } else if (dqprep_default_bounce_domain(c->bounce_domain, sizeof c->bounce_domain, tenant,
                                          env ? env->hostname : 0) == -1) {
    c->verp = 0;                     /* no usable domain: senders stay as they are */
  }
  buf_free(&v);
  return c;
fail:
  {
    int e = errno;
    buf_free(&v);
    free(c);
    errno = e;
  }
  return 0;
}

struct dqprep_conf *dqprep_conf_ref(struct dqprep_conf *c)
{
  if (c) c->refs++;
  return c;
}

void dqprep_conf_put(struct dqprep_conf *c)
{
  if (!c || --c->refs) return;
  free(c);
}

/* Step 0: the envelope sender of this recipient's copy. */
static int step_sender(const struct dqprep_env *env, const struct dqprep_conf *conf,
                       const struct dq_msg *m, size_t idx, struct buf *sender)
{
  buf_trunc(sender, 0);
  /* The null sender stays null: a bounce must never cause another. */
  if (!*m->sender || !conf || !conf->verp || !env || !env->verp_key || !conf->bounce_domain[0])
    return buf_adds(sender, m->sender);
  return verp_make(sender, env->verp_key, m->id, m->r[idx].addr, conf->bounce_domain);
}

int dqprep_message(const struct dqprep_env *env, const struct dqprep_conf *conf,
                   const struct dq_msg *m, size_t idx, const char *msg, size_t len,
                   struct dqprep_out *out)
{
  if (idx >= m->nrcpt) return errno = EINVAL, -1;
  buf_trunc(&out->msg, 0);
  out->p = msg;
  out->n = len;
  /* 0. envelope sender (VERP). */
  if (step_sender(env, conf, m, idx, &out->sender) == -1) return -1;
  /* 1. header rewriting of the delivery settings: Received removal,
        List-Unsubscribe (lib/dsetrun.h). */
  if (env && env->dset) {
    int k = dsetrun_rewrite(env->dset, m, idx, conf ? conf->bounce_domain : 0, out->p, out->n,
                            &out->msg);
    if (k == -1) return -1;
    if (k == 1) {
      out->p = out->msg.s;
      out->n = out->msg.len;
    }
  }
  /* 2. S/MIME (issue 6). */
  /* 3. DKIM, last (issue 6). */
  return 0;
}

int dqprep_setting_ok(const char *key, const char *value, struct buf *err)
{
  size_t i, n = strlen(value);
  if (!strcmp(key, "verp")) {
    if (!strcmp(value, "on") || !strcmp(value, "off")) return 1;
    buf_printf(err, "verp %s: want on or off", value);
    return 0;
  }
  if (strcmp(key, "bounce_domain")) return 1;
  /* ASCII letters, digits, '-', '_', dots between labels; at least two labels. */
  for (i = 0; i < n; i++) {
    char c = value[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
      continue;
    if (c == '.' && i > 0 && value[i - 1] != '.' && i + 1 < n) continue;
    break;
  }
  if (n && i == n && n <= DQPREP_DOMAIN_MAX && value[0] != '.' && value[0] != '-' && strchr(value, '.'))
    return 1;
  buf_printf(err, "bounce_domain %s: want a domain name in ASCII (e.g. return.example.com)", value);
  return 0;
}

void dqprep_out_free(struct dqprep_out *out)
{
  buf_free(&out->sender);
  buf_free(&out->msg);
  out->p = 0;
  out->n = 0;
}
