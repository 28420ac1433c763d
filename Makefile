# ngx_recsys: build, test, demo and benchmark.
#
#   make            the module (build/ngx_http_recsys_module.so) and the CLI
#   make deps       install the Debian packages the project needs
#   make test       unit tests, Test::Nginx suites and the browser test
#   make demo       10,000-item demo on 127.0.0.1:8080
#   make bench      100,000-item benchmark with wrk: HTTP, cache tiers, LLM
#   make bench-cache  the cache tiers alone (shm, Redis, miss)
#   make bench-llm    the LLM modes alone against the mock model (2 s)
#   make bench-embed  offline embedding throughput against the mock model
#   make bench-embed-online  query embedding: cache hits, misses, lexical
#
# NGINX_SRC defaults to Debian's configure tree (package nginx-dev), so the
# module loads into the stock /usr/sbin/nginx; point it at an nginx source
# tree to build against that instead.

SHELL := /bin/bash

REPO       := $(abspath .)
BUILD      := $(REPO)/build
NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
CC         ?= gcc
CXX        ?= g++

CORE       := ngx_recsys_module/core
CORE_SRCS  := $(filter-out $(CORE)/rs_faiss_c_api.cpp,$(wildcard $(CORE)/*.c))
CORE_HDRS  := $(wildcard $(CORE)/*.h)
CORE_OBJS  := $(patsubst $(CORE)/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
MOD_SRCS   := $(wildcard ngx_recsys_module/*.c ngx_recsys_module/*.h)

# recursive: on a fresh machine libfaiss-dev arrives with check-deps,
# after the Makefile was read
FAISS_A     = $(shell $(CC) -print-file-name=libfaiss.a)
FAISS_LIBS  = $(FAISS_A) -lblas -llapack -fopenmp -lstdc++ -lm
CFLAGS     ?= -O2 -g
RS_CFLAGS  := -std=gnu99 -Wall -Wextra -Werror -fPIC -I$(CORE) $(CFLAGS)
LIBS        = $(BUILD)/librs_faiss_c.a $(FAISS_LIBS) -ljansson

MODULE     := $(BUILD)/ngx_http_recsys_module.so
CLI        := $(BUILD)/recsys-index
PACED      := $(BUILD)/bench-paced
# libcurl is the CLI's alone: the module embeds through subrequests
CLI_SRCS   := $(wildcard tools/*.c)
CLI_HDRS   := $(wildcard tools/*.h)
NGX_TREE   := $(BUILD)/nginx

UNIT_SRCS  := $(wildcard t/unit/test_*.c)
UNIT_BINS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

TEST_INDEX := $(BUILD)/t-index
TEST_NGINX_LIB ?=
PROVE_INC  := $(if $(TEST_NGINX_LIB),-I $(TEST_NGINX_LIB)) -I $(REPO)/t/lib

DEMO_N     ?= 10000
BENCH_N    ?= 100000
EMBED_N    ?= 10000

.PHONY: all deps check-deps test unit-test nginx-test browser-test demo bench \
        bench-http bench-cache bench-llm bench-embed bench-embed-online \
        clean

all: check-deps $(MODULE) $(CLI)

deps:
	bash .ci/deps.sh install

check-deps:
	@bash .ci/deps.sh check || bash .ci/deps.sh install

# --- faiss C API: libfaiss_c where installed, the project's shim otherwise

$(BUILD)/librs_faiss_c.a: $(CORE)/rs_faiss_c_api.cpp
	@mkdir -p $(BUILD)
	$(CXX) -O2 -g -fPIC -fopenmp -std=c++17 -Wall -Wextra -Werror \
	    -c $< -o $(BUILD)/rs_faiss_c_api.o
	ar rcs $@ $(BUILD)/rs_faiss_c_api.o

# --- core and CLI

$(BUILD)/core/%.o: $(CORE)/%.c $(CORE_HDRS)
	@mkdir -p $(BUILD)/core
	$(CC) $(RS_CFLAGS) -c $< -o $@

$(BUILD)/librs_core.a: $(CORE_OBJS)
	ar rcs $@ $^

$(CLI): $(CLI_SRCS) $(CLI_HDRS) $(BUILD)/librs_core.a \
        $(BUILD)/librs_faiss_c.a
	$(CC) $(RS_CFLAGS) -Itools $(CLI_SRCS) -o $@ $(BUILD)/librs_core.a \
	    $(LIBS) -lcurl

# --- the nginx module, configured in a copy of the nginx tree

# configure lists the core files, so a new one means configuring again
$(NGX_TREE)/objs/Makefile: config $(BUILD)/librs_faiss_c.a $(CORE_SRCS) \
        $(wildcard ngx_recsys_module/*.c)
	rm -rf $(NGX_TREE)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGX_TREE)
	cd $(NGX_TREE) && \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-threads); fi && \
	    RECSYS_FAISS_C_LIB=$(BUILD)/librs_faiss_c.a \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --add-dynamic-module=$(REPO) > $(BUILD)/configure.log 2>&1 \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }

# a core function missing from the module would only show at load_module
$(MODULE): $(NGX_TREE)/objs/Makefile $(MOD_SRCS) $(CORE_SRCS) $(CORE_HDRS)
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile modules
	@if nm -D --undefined-only $(NGX_TREE)/objs/ngx_http_recsys_module.so \
	    | grep -E ' (rs|faiss|ngx_http_recsys)_'; then \
	    echo "undefined core symbols: add their file to config"; exit 1; fi
	cp $(NGX_TREE)/objs/ngx_http_recsys_module.so $@.tmp
	mv -f $@.tmp $@

# --- tests

$(BUILD)/unit/%: t/unit/%.c $(BUILD)/librs_core.a $(BUILD)/librs_faiss_c.a
	@mkdir -p $(BUILD)/unit
	$(CC) $(RS_CFLAGS) -Wno-unused-parameter $< -o $@ \
	    $(BUILD)/librs_core.a $(LIBS) $$(pkg-config --cflags --libs check)

$(TEST_INDEX)/manifest.json: $(CLI) t/data/catalog.jsonl
	$(CLI) build --catalog t/data/catalog.jsonl --out $(TEST_INDEX) --quiet

unit-test: check-deps $(UNIT_BINS) $(TEST_INDEX)/manifest.json
	@set -e; for t in $(UNIT_BINS); do \
	    echo "== $$(basename $$t)"; \
	    RS_TEST_DATA=$(REPO)/t/data RS_TEST_INDEX=$(TEST_INDEX) \
	    RS_MUSTACHE_SPEC=$(REPO)/../shared/conformance/mustache-spec \
	    RS_TEST_CLI=$(CLI) CK_FORK=yes $$t; \
	done

nginx-test: all $(TEST_INDEX)/manifest.json
	PATH=$(dir $(NGINX_BIN)):$$PATH \
	TEST_NGINX_BINARY=$(NGINX_BIN) \
	TEST_NGINX_LOAD_MODULES=$(MODULE) \
	TEST_NGINX_INDEX=$(TEST_INDEX) \
	TEST_NGINX_DATA=$(REPO)/t/data \
	TEST_NGINX_CLI=$(CLI) \
	prove $(PROVE_INC) -r t/

# the storefront example in headless Chromium; skips without chromium
browser-test: all $(TEST_INDEX)/manifest.json
	TEST_NGINX_BINARY=$(NGINX_BIN) \
	TEST_NGINX_LOAD_MODULES=$(MODULE) \
	TEST_NGINX_INDEX=$(TEST_INDEX) \
	TEST_NGINX_DATA=$(REPO)/t/data \
	prove t/browser/run

test: all unit-test nginx-test browser-test

# --- demo and benchmark

$(BUILD)/demo/catalog.jsonl: $(CLI)
	@mkdir -p $(BUILD)/demo
	$(CLI) gen --n $(DEMO_N) --seed 7 --out $@

$(BUILD)/demo/index/manifest.json: $(BUILD)/demo/catalog.jsonl
	$(CLI) build --catalog $< --out $(BUILD)/demo/index

demo: all $(BUILD)/demo/index/manifest.json
	bash bench/run-demo.sh $(NGINX_BIN) $(MODULE) $(BUILD)/demo

# a fixed-rate client for the latencies wrk cannot measure
$(PACED): bench/paced.c
	$(CC) -std=gnu99 -Wall -Wextra -Werror $(CFLAGS) $< -o $@

bench: bench-http bench-cache bench-llm

bench-http: all
	bash bench/run-bench.sh $(NGINX_BIN) $(MODULE) $(CLI) $(BUILD)/bench \
	    $(BENCH_N)

bench-cache: all $(PACED)
	bash bench/run-cache-bench.sh $(NGINX_BIN) $(MODULE) $(CLI) $(PACED) \
	    $(BUILD)/bench $(BENCH_N)

bench-llm: all $(PACED)
	bash bench/run-llm-bench.sh $(NGINX_BIN) $(MODULE) $(CLI) $(PACED) \
	    $(BUILD)/bench $(BENCH_N)

bench-embed: all
	bash bench/run-embed-bench.sh $(CLI) $(BUILD)/bench-embed $(EMBED_N)

bench-embed-online: all
	bash bench/run-embed-online-bench.sh $(NGINX_BIN) $(MODULE) $(CLI) \
	    $(BUILD)/bench-embed-online $(EMBED_N)

clean:
	rm -rf $(BUILD) t/servroot
