#ifndef CMC_DKIM_H
#define CMC_DKIM_H
/* dkim.h: DKIM signing (RFC 6376; Ed25519 RFC 8463) with libopendkim, in
   the calling process: deliver signs each message (each recipient's copy,
   after every header rewrite) without a fork; bin/sign is the filter.

   The signer is made once: it holds the libopendkim handle and caches the
   private keys it has read (keys of dkimkey.h).  For each message it looks
   up the From domain's active selectors in the tables (one read, so that a
   rotation takes effect at the next message) and signs with each active
   key -- one, or an RSA and an Ed25519 key (dual signing, RFC 8463), RSA's
   field first -- with relaxed/relaxed
   canonicalisation, rsa-sha256 or ed25519-sha256, covering From (over-
   signed), and Sender, Reply-To, To, Cc, Subject, Date, Message-ID,
   In-Reply-To, References, the MIME header fields, List-Unsubscribe and
   List-Unsubscribe-Post when present.

   Outcomes (what the caller does):
     DKIM_RC_SIGNED    the DKIM-Signature field(s) were appended: prepend them
     DKIM_RC_UNSIGNED  no key for the From domain and the tenant allows
                       unsigned mail: send the message as it is
     DKIM_RC_PERM      never signable: no From or several, From without a
                       domain, malformed header, header section over
                       DKIM_HEAD_MAX: fail the message (100)
     DKIM_RC_TEMP      later: a key file is missing, unreadable or not
                       private ("key for DOMAIN selector SEL unreadable:
                       ..."); no key and the tenant requires signing (the
                       mail waits for one); a table could not be read; not
                       prepared (below); no memory (111)
   dkim_signer_detail() says why, or "d=DOMAIN s=SELECTOR a=ALG" (two of
   them separated by "; " after a dual signature). */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

#define DKIM_HEAD_MAX (1024 * 1024)   /* bytes of header section: more is PERM */
#define DKIM_CACHE_MAX 4096           /* keys kept in memory; then the cache restarts */
#define DKIM_PREP_MAX 65536           /* preparations kept (dkim_signer_prepare) */
#define DKIM_FIELD_NAME "DKIM-Signature"

enum dkim_rc { DKIM_RC_SIGNED = 0, DKIM_RC_UNSIGNED, DKIM_RC_PERM, DKIM_RC_TEMP };

struct dkim_signer;

/* keydir: $CMC_HOME/keys/dkim.  t: the open tables (kept, not closed by
   the signer), or 0 for prepared mode (below).  0, or -1 with errno
   (ENOMEM). */
int dkim_signer_open(struct dkim_signer **s, struct tbl *t, const char *keydir);
void dkim_signer_close(struct dkim_signer *s);

/* Sign msg[0..n) (header section, empty line, body; CRLF line ends as in
   the spool, bare LF accepted and read as CRLF) for tenant (0: the tenant
   that owns keys for the From domain).  On DKIM_RC_SIGNED the whole field
   "DKIM-Signature: ...", folded, CRLF line ends and CRLF-ended, is
   appended to sig, once per active key. */
int dkim_signer_sign(struct dkim_signer *s, const char *tenant, const char *msg, size_t n,
                     struct buf *sig);
/* The same with the header section (up to and including the empty line,
   or without it) and the body apart, so that per-recipient headers need
   no copy of the body. */
int dkim_signer_sign2(struct dkim_signer *s, const char *tenant, const char *head, size_t hn,
                      const char *body, size_t bn, struct buf *sig);
/* Prepared mode, for deliver, whose workers are forked and must not
   touch the tables: before the fork, the parent calls dkim_signer_prepare
   with its tables for each tenant and From domain ("" for mail without
   one) it is about to hand out; it reads the active selectors, the policy
   and the key files now, and remembers the outcome: DKIM_RC_SIGNED (the
   keys are ready), DKIM_RC_UNSIGNED (no key, the tenant allows that),
   DKIM_RC_PERM (a bad tenant or domain name), or DKIM_RC_TEMP (table or key file unusable, or no key where the tenant
   requires signing: defer the mail now).  A signer opened with t 0 then
   signs (dkim_signer_sign2, tenant given) from what was prepared only; a
   From domain not prepared is DKIM_RC_TEMP. */
int dkim_signer_prepare(struct dkim_signer *s, struct tbl *t, const char *tenant,
                        const char *domain);
/* Forget what was prepared (deliver: at the start of each plan). */
void dkim_signer_unprepare(struct dkim_signer *s);
/* Why the last call ended as it did (never 0). */
const char *dkim_signer_detail(const struct dkim_signer *s);
/* The next field of the header section h[0..hn) at *pos (start at 0):
   *f, *fn the field with its folded lines, without its final line end.
   1 found, 0 at the end of the fields (the empty line or the end). */
int dkim_field_next(const char *h, size_t hn, size_t *pos, const char **f, size_t *fn);
/* The From domain of msg's header section (ASCII, lowercase) into out.
   0 ok, -1 EINVAL (no From, several, or no domain in it), ENOMEM. */
int dkim_from_domain(const char *head, size_t hn, struct buf *out);
#endif
