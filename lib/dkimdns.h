#ifndef DKIMDNS_H
#define DKIMDNS_H
/* dkimdns.h: is a DKIM key published?  Looks up the TXT record
   SELECTOR._domainkey.DOMAIN through one DNS server (glibc's resolver,
   res_nquery, with the server set in the resolver state, as dns.h does)
   and compares what it finds with the key: same algorithm (k=, default
   rsa) and same public key (p=, white space ignored). */
#include <stddef.h>
#include <netinet/in.h>
#include "buf.h"
#include "dkimkey.h"

#define DKIMDNS_TXT_MAX 4096        /* bytes of one TXT record, strings joined */

enum dkimdns_rc {
  DKIMDNS_MATCH = 0,                /* a DKIM record there holds this key */
  DKIMDNS_MISMATCH,                 /* DKIM record(s) there, none with this key */
  DKIMDNS_ABSENT,                   /* no such name, or no DKIM record at it */
  DKIMDNS_TEMP                      /* no answer, SERVFAIL, malformed answer */
};

/* Compare one record's text (strings joined) with k.  DKIMDNS_MATCH, or
   DKIMDNS_MISMATCH with the reason appended to why, or DKIMDNS_ABSENT
   when the text is not a DKIM key record. */
int dkimdns_compare(const char *txt, size_t n, const struct dkimkey *k, struct buf *why);
/* Look k's record up at server (0: the servers of /etc/resolv.conf) and
   compare.  A DKIMDNS_* outcome with a one-line explanation appended to
   why, or -1 with errno (ENOMEM). */
int dkimdns_check(const struct sockaddr_in *server, const struct dkimkey *k, struct buf *why);
#endif
