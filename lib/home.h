#ifndef HOME_H
#define HOME_H
/* home.h: where things are.  Every path derives from the installation root
   (CMC_HOME, read by main() and passed in) with a compiled-in default, so a
   test can build its own root.  Sibling programs are found next to the
   running executable unless the caller passes a directory (CMC_BIN). */
#include <stddef.h>

#define HOME_DEFAULT "/var/lib/cmc"

/* out = root "/" sub; 0, or -1 ENAMETOOLONG. */
int home_path(char *out, size_t n, const char *root, const char *sub);
/* out = bindir "/" name, bindir 0 meaning the directory of /proc/self/exe. */
int home_bin(char *out, size_t n, const char *bindir, const char *name);
#endif
