#ifndef DMARCORG_H
#define DMARCORG_H
/* dmarcorg.h: the Organizational Domain of a domain (RFC 7489 3.2), for
   DMARC policy discovery: when _dmarc.DOMAIN publishes no record, a
   receiver looks at _dmarc.ORGDOMAIN (RFC 7489 6.6.3).  It is the
   registrable domain by the Public Suffix List, found by libpsl (Debian's
   libpsl5) with the newer of its built-in list and Debian's
   /usr/share/publicsuffix (package publicsuffix).  A name under a suffix
   the list does not know (as .test) is read with the list's default rule
   "*": its last label is the suffix.  doc/spf-dmarc.md. */
#include "buf.h"

#define DMARCORG_DOMAIN_MAX 253

/* The Organizational Domain of domain (ASCII, an A-label form; a final
   dot is ignored), lowercase, into out.  0 found (it may be domain
   itself), 1 none (domain is a public suffix, as "co.uk"), -1 with errno
   (EINVAL: not a domain name; ENOMEM). */
int dmarcorg_domain(const char *domain, struct buf *out);
#endif
