/* die.c: fatal errors and warnings on fd 2, one line each:
   "PROG: fatal: WHAT ARG: strerror".  The only lib/ module that exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "die.h"

const char *prog = "?";

static void say(const char *kind, const char *what, const char *arg, int e)
{
  fprintf(stderr, "%s: %s: %s%s%s%s\n", prog, kind, what, arg ? arg : "",
          e ? ": " : "", e ? strerror(e) : "");
}
void die(int code, const char *what, const char *arg)
{
  say("fatal", what, arg, 0);
  exit(code);
}
void die_sys(int code, const char *what, const char *arg)
{
  say("fatal", what, arg, errno);
  exit(code);
}
void warn(const char *what, const char *arg) { say("warning", what, arg, 0); }
void warn_sys(const char *what, const char *arg) { say("warning", what, arg, errno); }

int errno_is_temp(int e)
{
  switch (e) {
  case EINTR: case EAGAIN: case ENOMEM: case EIO: case ENOSPC: case EDQUOT:
  case EMFILE: case ENFILE: case ETIMEDOUT: case ECONNREFUSED: case ECONNRESET:
  case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case EPIPE: case EBUSY:
  case ENOBUFS: case EDEADLK: case ENOLCK:
    return 1;
  default:
    return 0;
  }
}
