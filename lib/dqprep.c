/* dqprep.c: one recipient's copy of a message: envelope sender and bytes
   (see dqprep.h for the fixed order of the steps).  The settings are read
   here from db/ by deliver's parent, before any worker forks; the worker
   side (dqprep_message) touches no database and no environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "dkim.h"
#include "dkimkey.h"
#include "dqprep.h"
#include "home.h"
#include "smime.h"
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

/* --- steps 2 and 3: signing --- */

int dqprep_sign_open(struct dqprep_env *env, const char *home)
{
  char dir[4096];
  env->smime = 0;
  env->dkim = 0;
  if (home_path(dir, sizeof dir, home, "keys/smime") == -1
      || smime_signer_open(&env->smime, dir) == -1)
    return -1;
  /* No tables: the parent prepares (dkim.h, prepared mode). */
  if (home_path(dir, sizeof dir, home, "keys/dkim") == -1
      || dkim_signer_open(&env->dkim, 0, dir) == -1) {
    dqprep_sign_close(env);
    return -1;
  }
  return 0;
}

void dqprep_sign_close(struct dqprep_env *env)
{
  smime_signer_close(env->smime);
  dkim_signer_close(env->dkim);
  env->smime = 0;
  env->dkim = 0;
}

void dqprep_sign_reset(const struct dqprep_env *env)
{
  if (env->smime) smime_signer_unprepare(env->smime);
  if (env->dkim) dkim_signer_unprepare(env->dkim);
}

int dqprep_sign_prepare(const struct dqprep_env *env, struct tbl *db, const struct dq_msg *m,
                        long long now, struct dqprep_sign *ps)
{
  struct buf dom = BUF_ZERO;
  const char *from = m->from ? m->from : "";
  ps->smime = SMIME_RC_UNSIGNED;
  ps->dkim = DKIM_RC_UNSIGNED;
  ps->why[0] = 0;
  ps->need_rcpt = 0;
  if (!dkimkey_tenant_ok(m->tenant)) return 0;   /* no tenant: nothing of its own to sign with */
  if (env->smime && *from) {
    ps->smime = smime_signer_prepare(env->smime, db, m->tenant, from, now);
    if (ps->smime == SMIME_RC_TEMP || ps->smime == SMIME_RC_PERM)
      snprintf(ps->why, sizeof ps->why, "S/MIME: %s", smime_signer_detail(env->smime));
    ps->need_rcpt = ps->smime != SMIME_RC_UNSIGNED;
  }
  if (env->dkim) {
    /* The From domain as dkim.c finds it in the header: lowercase A-label,
       or "" (no usable domain: the tenant's policy decides). */
    if (*from && addr_domain_ascii(&dom, addr_domain(from)) == -1 && errno == ENOMEM) return -1;
    if (!dom.s || !dkimkey_domain_ok(dom.s)) buf_set(&dom, "", 0);
    ps->dkim = dkim_signer_prepare(env->dkim, db, m->tenant, dom.s ? dom.s : "");
    if ((ps->dkim == DKIM_RC_TEMP || ps->dkim == DKIM_RC_PERM) && !ps->why[0])
      snprintf(ps->why, sizeof ps->why, "DKIM: %s", dkim_signer_detail(env->dkim));
  }
  buf_free(&dom);
  return 0;
}

int dqprep_sign_rcpt(const struct dqprep_env *env, struct tbl *db, const char *tenant,
                     const char *domain)
{
  if (!env->smime || !dkimkey_tenant_ok(tenant)) return 0;
  return smime_signer_prepare_rcpt(env->smime, db, tenant, domain);
}

int dqprep_sign_decide(const struct dqprep_sign *ps, int smime_skipped)
{
  if (ps->dkim == DKIM_RC_PERM) return DQ_FAILED;
  if (ps->dkim == DKIM_RC_TEMP) return DQ_DEFERRED;
  if (!smime_skipped && (ps->smime == SMIME_RC_TEMP || ps->smime == SMIME_RC_PERM))
    return DQ_DEFERRED;
  return DQ_PENDING;
}

/* Length of the header section of p[0..n), its empty line included. */
static size_t head_len(const char *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    const char *lf = memchr(p + i, '\n', n - i);
    size_t l = lf ? (size_t)(lf - (p + i)) : n - i;
    if (!lf) return n;
    if (l == 0 || (l == 1 && p[i] == '\r')) return i + l + 1;
    i += l + 1;
  }
  return n;
}

/* Steps 2 and 3 on out's current copy.  -1 EINVAL when the copy cannot be
   signed (out->why, out->perm), ENOMEM. */
static int sign_steps(const struct dqprep_env *env, const struct dq_msg *m, size_t idx,
                      struct dqprep_out *out)
{
  struct buf dom = BUF_ZERO, sig = BUF_ZERO;
  const char *p = out->p, *sp;
  size_t n = out->n, hn = head_len(p, n), sn, shn;
  int rc, r = -1;
  if (!dkimkey_tenant_ok(m->tenant)) return 0;   /* as dqprep_sign_prepare: nothing to sign with */
  if (env->smime && m->from && *m->from) {
    if (addr_domain_ascii(&dom, addr_domain(m->r[idx].addr)) == -1 && errno == ENOMEM) goto out;
    rc = smime_signer_sign(env->smime, m->tenant, m->from ? m->from : "", dom.s, p, hn, p + hn,
                           n - hn, &sp, &sn, &shn);
    if (rc == SMIME_RC_SIGNED) {
      if (buf_set(&out->msg, sp, sn) == -1) goto out;
      out->p = p = out->msg.s;
      out->n = n = out->msg.len;
      hn = shn;
    } else if (rc != SMIME_RC_UNSIGNED) {
      snprintf(out->why, sizeof out->why, "S/MIME: %s", smime_signer_detail(env->smime));
      out->perm = rc == SMIME_RC_PERM;
      errno = rc == SMIME_RC_TEMP && !strcmp(smime_signer_detail(env->smime), "out of memory")
              ? ENOMEM : EINVAL;
      goto out;
    }
  }
  if (env->dkim) {
    rc = dkim_signer_sign2(env->dkim, m->tenant, p, hn, p + hn, n - hn, &sig);
    if (rc == DKIM_RC_SIGNED) {
      /* The field goes first; the copy is made (or grown) once. */
      if (p == out->msg.s) {
        if (buf_ready(&out->msg, sig.len) == -1) goto out;
        memmove(out->msg.s + sig.len, out->msg.s, out->msg.len + 1);
        memcpy(out->msg.s, sig.s, sig.len);
        out->msg.len += sig.len;
      } else if (buf_set(&out->msg, sig.s, sig.len) == -1 || buf_add(&out->msg, p, n) == -1) {
        goto out;
      }
      out->p = out->msg.s;
      out->n = out->msg.len;
    } else if (rc != DKIM_RC_UNSIGNED) {
      snprintf(out->why, sizeof out->why, "DKIM: %s", dkim_signer_detail(env->dkim));
      out->perm = rc == DKIM_RC_PERM;
      errno = rc == DKIM_RC_TEMP && !strcmp(dkim_signer_detail(env->dkim), "out of memory")
              ? ENOMEM : EINVAL;
      goto out;
    }
  }
  r = 0;
out:
  if (r == -1 && !out->why[0])
    snprintf(out->why, sizeof out->why, "unable to sign: %s", strerror(errno));
  buf_free(&dom);
  buf_free(&sig);
  return r;
}

int dqprep_message(const struct dqprep_env *env, const struct dqprep_conf *conf,
                   const struct dq_msg *m, size_t idx, const char *msg, size_t len,
                   struct dqprep_out *out)
{
  out->perm = 0;
  out->why[0] = 0;
  if (idx >= m->nrcpt) {
    snprintf(out->why, sizeof out->why, "no recipient %zu in message %s", idx, m->id);
    return errno = EINVAL, -1;
  }
  buf_trunc(&out->msg, 0);
  out->p = msg;
  out->n = len;
  /* 0. envelope sender (VERP). */
  if (step_sender(env, conf, m, idx, &out->sender) == -1) {
    snprintf(out->why, sizeof out->why, "unable to make the envelope sender: %s", strerror(errno));
    return -1;
  }
  /* 1. header rewriting of the delivery settings: Received removal,
        List-Unsubscribe (lib/dsetrun.h). */
  if (env && env->dset) {
    int k = dsetrun_rewrite(env->dset, m, idx, conf ? conf->bounce_domain : 0, out->p, out->n,
                            &out->msg);
    if (k == -1) {
      snprintf(out->why, sizeof out->why, "unable to rewrite the header section: %s", strerror(errno));
      return -1;
    }
    if (k == 1) {
      out->p = out->msg.s;
      out->n = out->msg.len;
    }
  }
  /* 2. S/MIME and 3. DKIM, last, as prepared by the parent. */
  if (env && (env->smime || env->dkim) && sign_steps(env, m, idx, out) == -1) return -1;
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
