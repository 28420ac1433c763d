# The cache's directives: "recsys_cache_zone" and "recsys_cache_ttl" are
# accepted where they belong, and every mistake fails "nginx -t" with its
# message.  What the cache serves is tested through the recommendations
# handler; a reload keeping the zone is in t/016-cache-reload.t.

use Test::Nginx::Socket;

repeat_each(1);

# a must_die block is 2 tests: the failed start and its message
plan tests => repeat_each() * (blocks() * 2 + 2);

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the zone in http, ttl in http, server and location
--- http_config
    recsys_cache_zone recs:1m;
    recsys_cache_ttl 10m stale=2m;
--- config
    recsys_cache_ttl 1h;

    location = /t {
        recsys_cache_ttl 30s stale=0;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
[emerg]



=== TEST 2: a size that is not a size
--- http_config
    recsys_cache_zone recs:lots;
--- config
--- must_die
--- error_log
invalid zone size "recs:lots"



=== TEST 3: no size
--- http_config
    recsys_cache_zone recs;
--- config
--- must_die
--- error_log
invalid zone size "recs"



=== TEST 4: no name
--- http_config
    recsys_cache_zone :1m;
--- config
--- must_die
--- error_log
invalid zone name ":1m"



=== TEST 5: smaller than eight pages
--- http_config
    recsys_cache_zone recs:16k;
--- config
--- must_die
--- error_log
zone "recs:16k" is too small



=== TEST 6: one zone per http block
--- http_config
    recsys_cache_zone recs:1m;
    recsys_cache_zone other:1m;
--- config
--- must_die
--- error_log
"recsys_cache_zone" directive is duplicate



=== TEST 7: a zone name another kind of zone has
--- http_config
    recsys_overlay_zone recs:1m;
    recsys_cache_zone recs:1m;
--- config
--- must_die
--- error_log
the shared memory zone "recs" is already declared for a different use



=== TEST 8: the zone is for the http block only
--- config
    recsys_cache_zone recs:1m;
--- must_die
--- error_log
"recsys_cache_zone" directive is not allowed here



=== TEST 9: stale= without a time to live
--- config
    location = /t {
        recsys_cache_ttl stale=1m;
    }
--- must_die
--- error_log
invalid value "stale=1m": the time to live comes first



=== TEST 10: a time to live of zero
--- config
    location = /t {
        recsys_cache_ttl 0;
    }
--- must_die
--- error_log
invalid value "0"



=== TEST 11: a time to live that is not a time
--- config
    location = /t {
        recsys_cache_ttl soon;
    }
--- must_die
--- error_log
invalid value "soon"



=== TEST 12: a stale window without "stale="
--- config
    location = /t {
        recsys_cache_ttl 5m 1m;
    }
--- must_die
--- error_log
invalid value "1m"



=== TEST 13: an empty stale window
--- config
    location = /t {
        recsys_cache_ttl 5m stale=;
    }
--- must_die
--- error_log
invalid value "stale="



=== TEST 14: a stale window that is not a time
--- config
    location = /t {
        recsys_cache_ttl 5m stale=1parsec;
    }
--- must_die
--- error_log
invalid value "stale=1parsec"



=== TEST 15: twice in one location
--- config
    location = /t {
        recsys_cache_ttl 5m;
        recsys_cache_ttl 10m;
    }
--- must_die
--- error_log
"recsys_cache_ttl" directive is duplicate



=== TEST 16: three arguments
--- config
    location = /t {
        recsys_cache_ttl 5m stale=1m stale=2m;
    }
--- must_die
--- error_log
invalid number of arguments in "recsys_cache_ttl" directive
