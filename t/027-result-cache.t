# recsys_cache end to end: ranked results from the shared-memory zone and
# from Redis (a real redis-server the suite starts), $recsys_cache_status,
# what bypasses the cache, what invalidates it (an overlay patch, another
# profile), damaged Redis values, and LLM narratives found in Redis by a
# second nginx, as another edge node would.  Every block names its own
# zone: a zone of the same name and size survives a reload, and
# TEST_NGINX_USE_HUP reloads between blocks.

use Test::Nginx::Socket;
use Cwd qw(cwd);
use RecsysMock;
use RecsysRedis;

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

our $Redis = RecsysRedis->new->start;
$ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;

our $Llm = RecsysMock->new->start;
$ENV{TEST_NGINX_LLM_PORT} = $Llm->port;

# every value the cache wrote to Redis replaced by garbage
sub damage_redis {
    for my $key ($Redis->cli('--scan', '--pattern', 'recsys:c:*')) {
        next unless length $key;
        $Redis->cli('SET', $key, 'not a cached value');
    }
}

repeat_each(1);
no_shuffle();
no_long_string();

plan tests => repeat_each() * (blocks() * 2 + 61);

run_tests();

__DATA__

=== TEST 1: recsys_cache without a zone or Redis fails nginx -t
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
    }
--- must_die
--- error_log
"recsys_cache" needs "recsys_cache_zone" or "recsys_redis"



=== TEST 2: shared memory: a miss, then hits with the same answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_cache_zone cache2:1m;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
        add_header X-Items $recsys_items;
    }
--- request eval
["GET /recs?q=running+shoes&k=3", "GET /recs?q=running+shoes&k=3",
 "GET /recs?k=3&q=running+shoes"]
--- response_headers eval
["X-Cache: MISS\nX-Items: shoe-002,shoe-009,shoe-006",
 "X-Cache: HIT\nX-Items: shoe-002,shoe-009,shoe-006",
 "X-Cache: HIT\nX-Items: shoe-002,shoe-009,shoe-006"]
--- response_body_like eval
[qr/"items":\[\{"id":"shoe-002"/, qr/"items":\[\{"id":"shoe-002"/,
 qr/"items":\[\{"id":"shoe-002"/]
--- no_error_log
[error]



=== TEST 3: another filter is another entry; explain=1 bypasses
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_cache_zone cache3:1m;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
    }
--- request eval
["GET /recs?q=running+shoes&k=3", "GET /recs?q=running+shoes&k=3&in_stock=1",
 "GET /recs?q=running+shoes&k=3&explain=1"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: BYPASS"]
--- response_body_like eval
[qr/"count":3/, qr/"count":3/, qr/"explain":/]
--- no_error_log
[error]



=== TEST 4: a price patch is never answered from before it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_cache_zone cache4:1m;
    recsys_overlay_zone overlay4:1m;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
["GET /recs?q=running+shoes&k=3", "GET /recs?q=running+shoes&k=3",
 qq{POST /patch\n{"id": "shoe-002", "price": 11.11}},
 "GET /recs?q=running+shoes&k=3"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "", "X-Cache: MISS"]
--- response_body_like eval
[qr/"price":74\.95/, qr/"price":74\.95/, qr/./, qr/"price":11\.11/]
--- no_error_log
[error]



=== TEST 5: Redis alone: the second answer comes from Redis
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
        add_header X-Items $recsys_items;
    }
--- init
$main::Redis->cli('FLUSHALL');
--- request eval
["GET /recs?q=hiking+boots&k=2", "GET /recs?q=hiking+boots&k=2"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT"]
--- response_body_like eval
[qr/"count":2/, qr/"count":2/]
--- no_error_log
[error]



=== TEST 6: a damaged value in Redis is a miss, never a crash
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
    }
--- init
main::damage_redis();
--- request eval
["GET /recs?q=hiking+boots&k=2", "GET /recs?q=hiking+boots&k=2"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT"]
--- response_body_like eval
[qr/"count":2/, qr/"count":2/]
--- no_error_log
[error]



=== TEST 7: another profile never gets the default profile's entry
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_cache_zone cache7:1m;
    recsys_profile popular {
        weight popularity 2;
    }
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
    }
    location = /popular {
        recsys;
        recsys_cache on;
        recsys_use_profile popular;
        add_header X-Cache $recsys_cache_status;
    }
--- request eval
["GET /recs?q=shoes&k=3", "GET /popular?q=shoes&k=3",
 "GET /popular?q=shoes&k=3"]
--- response_headers eval
["X-Cache: MISS", "X-Cache: MISS", "X-Cache: HIT"]
--- response_body_like eval
[qr/"profile":"default"/, qr/"profile":"popular"/, qr/"profile":"popular"/]
--- no_error_log
[error]



=== TEST 8: an LLM narrative written by one node
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- config
    location = /recs {
        recsys;
        recsys_narrative sync;
        recsys_llm_location /_llm;
        recsys_llm_model test-model;
        add_header X-Narrative $recsys_narrative_source;
    }
    location = /_llm {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_LLM_PORT/v1/chat/completions;
    }
--- init
$main::Redis->cli('FLUSHALL');
--- request
GET /recs?q=yoga+mat&k=2
--- response_headers
X-Narrative: llm
--- no_error_log
[error]



=== TEST 9: is found in Redis by another node, which never calls the model
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
--- config
    location = /recs {
        recsys;
        recsys_narrative cached;
        recsys_llm_model test-model;
        add_header X-Narrative $recsys_narrative_source;
    }
--- request
GET /recs?q=yoga+mat&k=2
--- response_headers
X-Narrative: cache
--- response_body_like eval
qr/"narrative":\{"summary":"[^"]+","source":"cache"/
--- no_error_log
[error]
