#ifndef RELAY_H
#define RELAY_H
/* relay.h: smtp-recv's relay decision, over the access snapshot
   (access.h): for whom a session hands mail on, and to whom.  A relay
   session sends for the tenant its client's IP is in, or the one its
   SMTP AUTH user belongs to (PLAIN and LOGIN, RFC 4954/4616: the exchange
   is here, on the session's struct tls); the receiving server (-m) takes
   mail only for the tenants' bounce domains (doc/bounces.md).  The caller
   sends the final replies and logs; a refusal's reply text is in r->no. */
#include <stddef.h>
#include "access.h"
#include "buf.h"
#include "envelope.h"
#include "smtpd.h"
#include "tenant.h"
#include "tls.h"

#define RELAY_REPLY_MAX 512              /* a reply line (RFC 5321 4.5.3.1.5) */

struct relay {
  const struct access *acc;
  const char *host;                      /* our name: return.TENANT.HOST */
  int is_mx;                             /* the receiving server (-m) */
  const char *ip_tenant, *ip_comp;       /* by the client's IP, or 0 */
  const char *tenant, *comp;             /* who relays: AUTH user first, else IP */
  int is_auth;
  char user[SMTPD_USER_MAX + 1];
  /* -m: whose bounce domain the transaction's first recipient is on. */
  const char *mx_tenant, *mx_comp;
  char mx_name[TENANT_NAME_MAX + 1];
  char no[RELAY_REPLY_MAX];              /* the last refusal */
};

/* relay_auth's outcomes. */
enum relay_auth { RELAY_AUTH_OK, RELAY_AUTH_NO, RELAY_AUTH_EOF, RELAY_AUTH_READ, RELAY_AUTH_WRITE };

/* A new session: no tenant yet (acc and host are kept, not copied). */
void relay_init(struct relay *r, const struct access *acc, const char *host, int is_mx);
/* Relay mode: the tenant of the client's IP, if any.  1 found, 0 not. */
int relay_client(struct relay *r, const char *ip);
/* After STARTTLS (RFC 3207 4.2): the AUTH user is forgotten, the IP's
   tenant relays again. */
void relay_restart(struct relay *r);
/* A new mail transaction. */
void relay_tx_reset(struct relay *r);
/* May the session send to addr (internal form)?  0 yes; else the
   refusal (r->no).  -m takes postmaster, abuse, unsubscribe (RFC 8058
   mailto) and VERP addresses (their MAC is deliver's to check: smtp-recv
   holds no secret) at a bounce domain; the envelope carries one tenant,
   the first recipient's. */
const char *relay_rcpt(struct relay *r, const char *addr);
/* AUTH arg[0..len): the SASL exchange on io, then the credentials checked
   against the snapshot.  line, b1, b2 are the caller's buffers: they
   hold the password after, for the caller to wipe.  RELAY_AUTH_OK
   (r->is_auth, user, tenant, comp set), RELAY_AUTH_NO (reply in r->no),
   RELAY_AUTH_EOF, RELAY_AUTH_READ (errno: ETIMEDOUT, EPROTO, ...),
   RELAY_AUTH_WRITE (a challenge could not be sent). */
enum relay_auth relay_auth(struct relay *r, struct tls *io, const char *arg, size_t len,
                           struct buf *line, struct buf *b1, struct buf *b2);
/* The Received header mode of the relaying composition (setting
   "received"; delete-all adds none here and deliver removes the others),
   else def. */
enum smtpd_received relay_received(const struct relay *r, enum smtpd_received def);
/* The envelope's tenant, composition, bounce mark and AUTH user. */
void relay_envelope(const struct relay *r, struct envelope *e);
#endif
