# Makefile: builds every program, runs the tests, installs, starts the system.
#   make            build bin/, cgi-bin/, unit tests      make check   deps + build + prove
#   make SANITIZE=1 check   the same with ASan+UBSan (clang)   make asan   = that
#   make run        deps + build + start everything on loopback under s6-svscan
#   make fuzz       build the fuzz targets and run each for FUZZ_SECONDS
#   make deps       apt-get install what the build, run and tests need (idempotent)
#   make install DESTDIR=... PREFIX=/usr/local
CC       = cc
CFLAGS   = -O2 -g
CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 \
           -Wstrict-prototypes -Wmissing-prototypes
HARDEN   = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now
SAN      = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=all
LIBS     = -ldb -lssl -lcrypto -lpcre2-8 -lcrypt -lidn2 -lresolv -lopendkim -ljansson -lspf2 -lpsl
PREFIX   = /usr/local
FUZZ_SECONDS = 60
PROVE    = prove
PROVEFLAGS = -j2

ifeq ($(SANITIZE),1)
CC       = clang
CFLAGS   = $(SAN)
HARDEN   =
LDHARDEN =
MODE     = sanitize
else
MODE     = normal
endif
ALL_CFLAGS = $(WARN) $(CPPFLAGS) $(HARDEN) $(CFLAGS)

LIB_SRC  = $(sort $(wildcard lib/*.c))
LIB_OBJ  = $(LIB_SRC:.c=.o)
BIN_SRC  = $(sort $(wildcard bin/*.c))
BIN      = $(BIN_SRC:.c=)
CGI_SRC  = $(sort $(wildcard cgi-bin/*.c))
CGI      = $(CGI_SRC:.c=)
UNIT_SRC = $(sort $(wildcard t/unit-*.c))
UNIT     = $(UNIT_SRC:.c=.t)
FUZZ_SRC = $(sort $(wildcard t/fuzz/*.c))
FUZZ     = $(FUZZ_SRC:.c=)

# Debian packages: build, run, tests.
DEBS = build-essential clang libclang-rt-14-dev pkg-config \
       libdb5.3-dev db5.3-util libpcre2-dev libssl-dev openssl libidn2-dev \
       libcrypt-dev libspf2-dev libopendkim-dev libqrencode-dev libjansson-dev libpsl-dev \
       s6 execline ucspi-tcp perl swaks python3 dnsmasq-base postfix \
       opendkim-tools python3-dkim python3-dnspython python3-spf \
       lighttpd curl netcat-openbsd procps iproute2

all: .build-mode $(BIN) $(CGI) $(UNIT)

# A change between normal and sanitizer builds rebuilds everything.
.build-mode: FORCE
	@if [ "$$(cat .build-mode 2>/dev/null)" != "$(MODE)" ]; then \
	  rm -f lib/*.o lib/libcmc.a $(BIN) $(CGI) $(UNIT); echo $(MODE) > .build-mode; fi
FORCE:

lib/%.o: lib/%.c $(wildcard lib/*.h) .build-mode
	$(CC) $(ALL_CFLAGS) -c $< -o $@
lib/libcmc.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $(LIB_OBJ)
bin/%: bin/%.c lib/libcmc.a
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) $< lib/libcmc.a $(LIBS) -o $@
cgi-bin/%: cgi-bin/%.c lib/libcmc.a
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) $< lib/libcmc.a $(LIBS) -o $@
t/unit-%.t: t/unit-%.c t/tap.h lib/libcmc.a
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(LDHARDEN) $< lib/libcmc.a $(LIBS) -o $@

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -q --no-install-recommends $$missing; \
	fi

check: deps
	$(MAKE) all
	$(PROVE) $(PROVEFLAGS) t/

asan:
	$(MAKE) check SANITIZE=1

run: deps
	$(MAKE) all
	sh bin/cmc-run.sh

fuzz: .build-mode
	@for f in $(FUZZ_SRC); do n=$${f%.c}; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $$f $(LIB_SRC) $(LIBS) -o $$n || exit 1; \
	  mkdir -p t/fuzz/corpus/$${n##*/} t/fuzz/work/$${n##*/}; \
	  echo "fuzz $${n##*/} for $(FUZZ_SECONDS)s"; \
	  $$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 t/fuzz/work/$${n##*/} \
	    t/fuzz/corpus/$${n##*/} >t/fuzz/work/$${n##*/}.log 2>&1 \
	    || { tail -n 30 t/fuzz/work/$${n##*/}.log; exit 1; }; \
	  tail -n 2 t/fuzz/work/$${n##*/}.log; done

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/cmc/bin $(DESTDIR)$(PREFIX)/lib/cmc/cgi-bin \
	  $(DESTDIR)$(PREFIX)/share/cmc
	install -m 755 $(BIN) bin/*.sh $(DESTDIR)$(PREFIX)/lib/cmc/bin
	[ -z "$(CGI)" ] || install -m 755 $(CGI) $(DESTDIR)$(PREFIX)/lib/cmc/cgi-bin
	cp -R service templates $(DESTDIR)$(PREFIX)/share/cmc/

clean:
	rm -rf lib/*.o lib/libcmc.a $(BIN) $(CGI) $(UNIT) $(FUZZ) t/fuzz/work .build-mode

.PHONY: all deps check asan run fuzz install clean FORCE
