/* resshim.c: an LD_PRELOAD shim for tests.  opendkim-testmsg asks glibc's
   resolver, which only knows port 53: with SHIM_RESOLVER=IP:PORT set, the
   resolver state it starts with points at that server (the tests' dnsmasq).
   Built by t/lib.sh's resolver_shim. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
int __res_ninit(res_state rs)
{
  int (*real)(res_state) = (int (*)(res_state))dlsym(RTLD_NEXT, "__res_ninit");
  const char *s = getenv("SHIM_RESOLVER"), *colon = s ? strchr(s, ':') : 0;
  char ip[64];
  int r = real(rs);
  if (r == 0 && colon && (size_t)(colon - s) < sizeof ip) {
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = 0;
    rs->nscount = 1;
    memset(&rs->nsaddr_list[0], 0, sizeof rs->nsaddr_list[0]);
    rs->nsaddr_list[0].sin_family = AF_INET;
    rs->nsaddr_list[0].sin_port = htons((unsigned short)strtol(colon + 1, 0, 10));
    inet_pton(AF_INET, ip, &rs->nsaddr_list[0].sin_addr);
  }
  return r;
}
