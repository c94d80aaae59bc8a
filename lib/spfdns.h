#ifndef SPFDNS_H
#define SPFDNS_H
/* spfdns.h: DNS for the SPF and DMARC checks, asked of one configurable
   server (CMC_RESOLVER, as deliver does) through glibc's resolver
   (res_nquery with the server set in the resolver state).

   libspf2's own resolver layer (SPF_dns_resolv) keeps a private,
   thread-local resolver state initialised from /etc/resolv.conf, which
   knows no port: it cannot ask a server on a test's port.  So
   spfdns_layer gives libspf2 a layer of its own (SPF_dns_server_t) that
   answers A, AAAA, MX, TXT and PTR queries the way SPF_dns_resolv does,
   from our resolver state.  spfdns_txt is the plain TXT lookup DMARC
   uses. */
#include <stddef.h>
#include <netinet/in.h>
#include "buf.h"

#define SPFDNS_TIMEOUT 5            /* seconds per try */
#define SPFDNS_TRIES 2
#define SPFDNS_TXT_MAX 4096         /* bytes of one TXT record, strings joined */
#define SPFDNS_TXT_COUNT 16         /* TXT records kept of one name */

enum spfdns_rc { SPFDNS_OK = 0, SPFDNS_NXDOMAIN, SPFDNS_NODATA, SPFDNS_TEMP };

struct SPF_dns_server_struct;
/* A libspf2 DNS layer asking server (0: /etc/resolv.conf).  0 with errno
   (ENOMEM) on failure.  Freed by SPF_dns_free(). */
struct SPF_dns_server_struct *spfdns_layer(const struct sockaddr_in *server);

/* The TXT records of name, each with its strings joined and NUL-ended,
   appended to out one after the other; *count of them.  An SPFDNS_*
   outcome, or -1 with errno (ENOMEM). */
int spfdns_txt(const struct sockaddr_in *server, const char *name, struct buf *out,
               size_t *count);
#endif
