#ifndef DIE_H
#define DIE_H
/* die.h: the only way a program in bin/ stops on error, and its warnings.
   EXIT_PERM (100): retrying cannot help.  EXIT_TEMP (111): try again later. */
#define EXIT_PERM 100
#define EXIT_TEMP 111
extern const char *prog;        /* set first thing in main() */
_Noreturn void die(int code, const char *what, const char *arg);      /* no errno text */
_Noreturn void die_sys(int code, const char *what, const char *arg);  /* appends strerror(errno) */
void warn(const char *what, const char *arg);
void warn_sys(const char *what, const char *arg);
/* 1 if errno value e names a condition that may pass (EINTR, EAGAIN, ENOSPC, ...). */
int errno_is_temp(int e);
#endif
