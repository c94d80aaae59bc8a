#ifndef PREFORK_H
#define PREFORK_H
/* prefork.h: a TCP listener with a pool of forked children, each serving
   many connections one after the other (Postfix master style), for
   smtp-recv -l.  The parent binds, forks children on demand up to max
   (one per concurrent session), and keeps count of the idle ones through
   a status pipe.  A child accepts, serves, accepts again; it exits after
   max_use connections, after max_idle seconds without one, or when the
   parent is gone, so leaks stay bounded and a new child sees a new world.
   When every one of max children is busy, the parent accepts the
   connection itself and hands it to a "busy" callback (smtp-recv answers
   421 there).  SIGTERM, SIGINT or SIGHUP to the parent stop it and its
   children.  A module: returns 0/-1 with errno; never exits or prints
   (the callbacks do what the program wants).  Linux and POSIX calls only;
   the caller ignores SIGPIPE. */
#include <sys/types.h>

#define PREFORK_CHILD 1              /* prefork_run in a child that is done */

struct prefork {
  int lfd;                           /* from prefork_listen */
  unsigned long max;                 /* children at most = concurrent sessions */
  unsigned long max_use;             /* connections per child */
  int max_idle;                      /* seconds a child waits for one */
  /* A connection, in a child; fd is closed afterwards.  May be left by a
     longjmp set up inside it, never by one around it. */
  void (*serve)(int fd, void *arg);
  /* In the parent, every child busy: say so on fd (non-blocking); closed after. */
  void (*busy)(int fd, void *arg);
  /* In the parent: child pid ended by signal or with an exit other than
     0 (wait status st).  May be 0. */
  void (*gone)(pid_t pid, int st, void *arg);
  void *arg;
  /* The library's, in a child: */
  int stfd;                          /* status pipe to the parent */
  unsigned long used;                /* connections served */
  int told_idle;                     /* prefork_idle was called for this one */
};

/* A listening TCP socket on "ADDR:PORT" (IPv4, or IPv6 as "[ADDR]:PORT"),
   non-blocking and close-on-exec.  The fd, or -1 (EINVAL for a bad spec). */
int prefork_listen(const char *spec);
/* Run the pool on p->lfd.  In the parent: returns 0 once stopped by a
   signal (children stopped too), -1 on a fatal error.  In a child:
   returns PREFORK_CHILD when it is done; the caller then exits. */
int prefork_run(struct prefork *p);
/* In a child, from serve: this connection is as good as over (its last
   reply is about to go out); count the child idle now, so that the
   client's next connection, which may come at once, is not refused for
   want of a child.  No effect if the child will not take another. */
void prefork_idle(struct prefork *p);
/* The addresses of a connected socket as text (numeric; an IPv4-mapped
   IPv6 address as IPv4).  0 or -1. */
int prefork_names(int fd, char *rip, size_t riplen, char *lip, size_t liplen,
                  char *lport, size_t lportlen);
#endif
