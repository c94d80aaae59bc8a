#ifndef INJECTC_H
#define INJECTC_H
/* injectc.h: handing one message to queue-inject, as smtp-recv does it:
   either to the server form over its UNIX socket (lib/injectp.h: the
   envelope first, then the message in frames, then the end; "ID" back
   after the group commit), or by running queue-inject for the message
   (fd 0 a pipe for the message, fd 1 a socket for the envelope and the
   id).  The message streams as it arrives in both cases.  A module:
   0/-1 with errno, never exits or prints. */
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"

enum injectc_how {
  INJECTC_AUTO,                      /* the socket if it accepts, else run queue-inject */
  INJECTC_SOCKET,                    /* the socket or nothing */
  INJECTC_EXEC                       /* always run queue-inject */
};

struct injectc {
  int is_active, is_socket, is_broken;
  int fd;                            /* the socket, or the pipe to queue-inject's fd 0 */
  int envfd;                         /* exec: the socket on queue-inject's fd 1 */
  pid_t pid;                         /* exec: queue-inject */
  int timeout;                       /* seconds for each wait */
  struct buf env;                    /* exec: the envelope, sent after the message */
  char why[128];                     /* why the last finish failed, for the log */
};

void injectc_init(struct injectc *c);
/* Begin a message with envelope env[0..n) (wire form).  sock: the server's
   socket path; prog: queue-inject's path.  0, or -1 (nothing begun). */
int injectc_start(struct injectc *c, enum injectc_how how, const char *sock,
                  const char *prog, const char *env, size_t n, int timeout);
/* Message bytes.  0, or -1 when the other side stopped reading (it has
   said no: injectc_finish tells how); further writes are ignored. */
int injectc_write(struct injectc *c, const char *p, size_t n);
/* The message is complete: wait for the answer.  0 with the id in id
   (idmax bytes; committed, durable), 100 refused for good, 111 not queued
   (c->why says why).  The message is over either way. */
int injectc_finish(struct injectc *c, char *id, size_t idmax);
/* Give the message up (nothing is kept).  Safe when nothing is begun. */
void injectc_abort(struct injectc *c);
/* 1 if the last message went over the socket. */
int injectc_used_socket(const struct injectc *c);
#endif
