#ifndef DQWORK_H
#define DQWORK_H
/* dqwork.h: one delivery attempt to one destination, as a deliver worker
   process makes it: find the hosts (a static route, or the MX records of
   the domain, else its A/AAAA), connect to them in order until one talks,
   STARTTLS when offered, then send every message of the job over that one
   connection, one SMTP transaction per recipient (its own envelope sender
   and copy: lib/dqprep.h; RSET after a failed transaction; PIPELINING
   when offered).  Every 4xx/5xx reply is classified with the rules of
   cfg->cls (lib/classify.h) into an error status.
   Writes one dq.h result line per recipient to fd out, as soon as the
   recipient's outcome is known.  Never exits; reads no environment. */
#include <stddef.h>
#include <netinet/in.h>
#include <signal.h>
#include "classify.h"
#include "dq.h"
#include "dqprep.h"

#define DQWORK_RCPT_MAX 100          /* recipients in one SMTP transaction */
#define DQWORK_RECONNECT_MAX 3       /* new connections after losing one, per job */

struct dqwork_cfg {
  const char *spooldir;              /* messages are read from spooldir/queue/ID */
  const char *helo;                  /* our name in EHLO */
  unsigned port;                     /* SMTP port of MX hosts */
  int connect_timeout, timeout;      /* seconds */
  const struct sockaddr_in *resolver;/* 0: /etc/resolv.conf */
  void *tls_ctx;                     /* smtpc_tls_ctx(); 0: never STARTTLS */
  const struct classify *cls;        /* reply rules; 0: every 5xx is status 99 */
  const struct dqprep_env *prep;     /* per installation (VERP secret); 0: no VERP */
  volatile sig_atomic_t *stop;       /* set (by a signal): end after the current transaction */
};

struct dqwork_item {                 /* one message, some of its recipients */
  const struct dq_msg *m;
  size_t *idx;                       /* indexes into m->r, at most DQWORK_RCPT_MAX */
  size_t n;
};

struct dqwork_job {
  const char *dest;                  /* A-label domain, or a route's host[:port] */
  int is_route;
  struct dqwork_item *item;
  size_t nitem;
  struct dqprep_conf *prep;          /* settings of the job's tenant and composition, or 0 */
  unsigned interval;                 /* ms from one transaction's MAIL to the next (delivery speed) */
  char local_ip[46];                 /* sending IP to bind; "": the kernel's choice */
  unsigned char prio;                /* priority of its first (highest) item */
};

/* 0 when a result was written for every recipient -- or for every one it
   tried before cfg->stop was set: the rest get none (the caller leaves
   them pending); -1 (errno) when the results could not be written. */
int dqwork_run(const struct dqwork_cfg *cfg, const struct dqwork_job *job, int out);

/* Split a route "host", "host:port", "[ip]" or "[ip]:port" into host (no
   brackets) and port (defport if none).  0 or -1 EINVAL. */
int dqwork_route_parse(const char *route, char *host, size_t hostn,
                       unsigned *port, unsigned defport);
#endif
