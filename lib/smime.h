#ifndef CMC_SMIME_H
#define CMC_SMIME_H
/* smime.h: S/MIME signing (RFC 8551) in the calling process: a message
   becomes multipart/signed (RFC 1847) with a detached CMS SignedData
   (OpenSSL; SHA-256; the signer's certificate and its chain included),
   before DKIM signs the result.  Only the MIME part -- the Content-*
   fields and the body -- is signed; every other field (From, To,
   Subject, Date, Message-ID, ...) stays outside, where per-recipient
   rewrites do not touch the signature.  Line ends are CRLF; a part that
   is not 7-bit is re-encoded first (smimeenc.h), so relays cannot break
   the signature.  doc/smime.md.

   Use: smime_signer_open once.  smime_signer_prepare (with the tables)
   finds what signs mail of a tenant's From address (smimereg.h) and
   reads the credential file; it is remembered in the signer, so a
   process forked afterwards signs with smime_signer_sign without the
   tables.  The last signature is kept: every recipient of one message
   gets the same signed part without signing it again.

   Outcomes:
     SMIME_RC_SIGNED    the message was made multipart/signed
     SMIME_RC_UNSIGNED  no certificate for the From address or domain, or
                        the recipient's domain is on the tenant's list of
                        domains without S/MIME: send it as it is
     SMIME_RC_PERM      never signable: header section over SMIME_HEAD_MAX
     SMIME_RC_TEMP      later: the credential file is missing, unreadable,
                        readable by others or does not parse; the
                        certificate has expired (never sent unsigned: a
                        renewal lets it go); the tables could not be read;
                        not prepared for this From; no memory
   smime_signer_detail() says why. */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

#define SMIME_HEAD_MAX (1024 * 1024)  /* bytes of header section: more is PERM */
#define SMIME_CACHE_MAX 1024          /* credentials kept; then the cache restarts */
#define SMIME_PREP_MAX 65536          /* preparations kept (see smime_signer_unprepare) */

enum smime_rc { SMIME_RC_SIGNED = 0, SMIME_RC_UNSIGNED, SMIME_RC_PERM, SMIME_RC_TEMP };

struct smime_signer;

/* keydir: $CMC_HOME/keys/smime.  0, or -1 ENOMEM. */
int smime_signer_open(struct smime_signer **s, const char *keydir);
void smime_signer_close(struct smime_signer *s);

/* With the tables t: what mail of tenant with From address from (as
   smimereg_target gives it, or raw: it is normalised here) needs at time
   now, remembered for smime_signer_sign.  SMIME_RC_SIGNED: a credential
   is ready; UNSIGNED: none registered; TEMP: see above. */
int smime_signer_prepare(struct smime_signer *s, struct tbl *t, const char *tenant,
                         const char *from, long long now);
/* With the tables: is mail of tenant to rcpt_domain (A-label) kept
   without S/MIME?  Remembered too.  1 yes, 0 no, -1 error. */
int smime_signer_prepare_rcpt(struct smime_signer *s, struct tbl *t, const char *tenant,
                              const char *rcpt_domain);

/* Sign head[0..hn) (the header section, with or without its empty line)
   and body[0..bn) for tenant, From address from (as prepared) and
   rcpt_domain (0: no recipient check).  CRLF or bare LF in; on
   SMIME_RC_SIGNED the whole new message, CRLF lines, is at *out (*outn
   bytes, in the signer's memory, valid until its next call; the input
   may be anywhere), and *outhn is the length of its header section
   (empty line included). */
int smime_signer_sign(struct smime_signer *s, const char *tenant, const char *from,
                      const char *rcpt_domain, const char *head, size_t hn,
                      const char *body, size_t bn, const char **out, size_t *outn,
                      size_t *outhn);
const char *smime_signer_detail(const struct smime_signer *s);
/* Forget what was prepared (deliver: at the start of each plan, so that
   what it holds is one plan's; a process forked earlier keeps its copy). */
void smime_signer_unprepare(struct smime_signer *s);

/* The From address of header h[0..hn), normalised (smimereg_target), into
   out.  0, or -1 EINVAL (no From, no address), ENOMEM. */
int smime_from(const char *h, size_t hn, struct buf *out);
#endif
