#ifndef DQPREP_H
#define DQPREP_H
/* dqprep.h: what one recipient gets -- the envelope sender and the
   message bytes of its copy -- made by a deliver worker from the spool
   copy just before the SMTP transaction of that recipient.

   dqprep_message() applies these steps, always in this order:
     0. envelope sender: VERP (lib/verp.h) on the bounce domain, unless the
        setting verp=off or the sender is the null sender;
     1. header rewriting of the delivery settings (Received removal,
        List-Unsubscribe: issue 4);
     2. S/MIME (issue 6);
     3. DKIM, last, so that the signature covers what is sent (issue 6).
   A step that changes nothing leaves the spool copy in place (no copy is
   made); a step that changes it works on out->msg.

   Settings come in two parts, both resolved before the worker forks (a
   worker never opens db/):
   - struct dqprep_env: per installation, filled by deliver's main();
   - struct dqprep_conf: per tenant and composition, loaded by the parent
     (dqprep_conf_load) into each job, reference-counted so that a plan and
     the jobs taken from it share one copy.
   Functions return 0 or -1 with errno; they never exit or print. */
#include <stddef.h>
#include "buf.h"
#include "dq.h"
#include "tbl.h"
#include "verp.h"

struct dsetrun;                      /* lib/dsetrun.h */

#define DQPREP_DOMAIN_MAX 255

struct dkim_signer;                  /* lib/dkim.h */
struct smime_signer;                 /* lib/smime.h */
struct dqprep_env {
  const struct verp_key *verp_key;   /* 0: VERP cannot be made (senders kept) */
  const char *hostname;              /* CMC_HOSTNAME: default bounce domain return.TENANT.HOSTNAME */
  const struct dsetrun *dset;        /* delivery settings for step 1; 0: none */
  /* Steps 2 and 3 (dqprep_sign_open; 0: no signing).  The parent prepares
     them for each message before a worker forks (dqprep_sign_prepare). */
  struct smime_signer *smime;
  struct dkim_signer *dkim;
};

struct dqprep_conf {
  unsigned refs;
  int verp;                          /* setting verp: 1 on (default), 0 off */
  char bounce_domain[DQPREP_DOMAIN_MAX + 1];  /* setting bounce_domain, or return.TENANT.HOSTNAME */
  /* Steps 1-3 add their settings here (resolved in dqprep_conf_load). */
};

/* The settings of tenant/comp (tenant_get; unset ones take defaults).  A
   new conf with refs 1, or 0 with errno (ENOMEM; EIO/EAGAIN/EDEADLK when
   the database could not be read). */
struct dqprep_conf *dqprep_conf_load(struct tbl *db, const char *tenant, const char *comp,
                                     const struct dqprep_env *env);
struct dqprep_conf *dqprep_conf_ref(struct dqprep_conf *c);  /* refs++, returns c */
void dqprep_conf_put(struct dqprep_conf *c);                 /* refs--, freed at 0; 0 is fine */
/* The default bounce domain of tenant: "return." TENANT "." hostname (lower
   case), as the guide's return.SUBDOMAIN.  0 or -1 ENAMETOOLONG. */
int dqprep_default_bounce_domain(char *out, size_t n, const char *tenant, const char *hostname);

#define DQPREP_WHY_MAX 512
struct dqprep_out {
  struct buf sender;                 /* envelope sender for MAIL FROM (internal form) */
  struct buf msg;                    /* the changed copy, when a step made one */
  const char *p;                     /* what to send: spool copy or msg.s */
  size_t n;
  /* After a failure: */
  int perm;                          /* 1: this copy can never be made (fail the
                                        recipient); 0: later (defer it) */
  char why[DQPREP_WHY_MAX];          /* the reason, for the event's reply field */
};
#define DQPREP_OUT_ZERO { BUF_ZERO, BUF_ZERO, 0, 0, 0, "" }

/* Prepare recipient idx of m: msg[0..len) is the spool copy (CRLF line
   ends, not dot-stuffed).  out is reused from one call to the next.  0, or
   -1 with errno (ENOMEM, EINVAL) when this recipient's copy cannot be made
   now: out->why says why ("DKIM: key for example.com selector s1
   unreadable: ...", "S/MIME: header section over 1048576 bytes"), and
   out->perm whether it never can (a message that cannot be signed: a
   header section over the signers' limit, a malformed header field) or
   may later (a key or
   certificate unusable now, no key where the tenant requires one, no
   memory, a From the parent did not prepare). */
int dqprep_message(const struct dqprep_env *env, const struct dqprep_conf *conf,
                   const struct dq_msg *m, size_t idx, const char *msg, size_t len,
                   struct dqprep_out *out);
void dqprep_out_free(struct dqprep_out *out);

/* Is value acceptable for the setting key (verp: on|off; bounce_domain: a
   domain)?  1 yes (or not a setting of this module), 0 no with the reason
   in err. */
int dqprep_setting_ok(const char *key, const char *value, struct buf *err);

/* Signing, steps 2 (S/MIME, lib/smime.h) and 3 (DKIM, lib/dkim.h;
   doc/dkim.md).  The signers hold the keys; the tables are read only in
   the parent: dqprep_sign_prepare reads, for a message about to be handed
   out, what its tenant and From need and reads the key files (a missing
   or unreadable key, an expired certificate: defer now, never send
   unsigned); a forked worker then signs from memory.  deliver's main()
   opens the signers for the keys under home/keys. */
struct dqprep_sign {
  int smime, dkim;                   /* SMIME_RC_*, DKIM_RC_* (lib/smime.h, lib/dkim.h) */
  int need_rcpt;                     /* S/MIME applies: dqprep_sign_rcpt for each domain */
  char why[DQPREP_WHY_MAX];          /* why not signable now */
};
int dqprep_sign_open(struct dqprep_env *env, const char *home);   /* 0 or -1 */
void dqprep_sign_close(struct dqprep_env *env);
/* At the start of a plan: forget the last plan's preparations. */
void dqprep_sign_reset(const struct dqprep_env *env);
/* For m, with the tables db, at time now.  0 (ps filled), or -1 ENOMEM. */
int dqprep_sign_prepare(const struct dqprep_env *env, struct tbl *db, const struct dq_msg *m,
                        long long now, struct dqprep_sign *ps);
/* Does tenant want no S/MIME for mail to domain (A-label)?  Remembered
   for the workers.  1 yes, 0 no, -1 error. */
int dqprep_sign_rcpt(const struct dqprep_env *env, struct tbl *db, const char *tenant,
                     const char *domain);
/* What to do with a recipient of a prepared message, S/MIME skipped or
   not for its domain: DQ_PENDING (hand it out), DQ_DEFERRED or DQ_FAILED
   (now, ps->why says why). */
int dqprep_sign_decide(const struct dqprep_sign *ps, int smime_skipped);
#endif
