# Queries embedded online by the model an index was built with, through
# subrequests to the mock embeddings server (t/embed-mock.pl, through
# t/lib/RecsysEmbedMock.pm): the model's vector is used and cached (in
# shared memory and in Redis), the text sent is redacted and normalised,
# the call carries the API key and nothing of the shopper's, and every
# failure (slow, 5xx, a wrong-sized or non-numeric vector, an open
# circuit) answers 200 through the lexical companion, saying so.  The
# mock's URL in each block's proxy_pass chooses how it misbehaves.

use Test::Nginx::Socket;
use Cwd qw(cwd);
use Digest::SHA qw(hmac_sha1_hex);
use File::Temp qw(tempdir);
use RecsysEmbedMock;
use RecsysRedis;

my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $data = $ENV{TEST_NGINX_DATA} || cwd() . '/t/data';
my $tmp = tempdir(CLEANUP => 1);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

our $Mock = RecsysEmbedMock->new(dim => 48)->start;
$ENV{TEST_NGINX_EMBED_PORT} = $Mock->port;

system($cli, 'build', '--catalog', "$data/catalog.jsonl", '--out',
       "$tmp/model", '--embedder', 'openai', '--endpoint', $Mock->url,
       '--model', 'mock-embed', '--batch', 16, '--quiet',
       '--text-template', '{{title}}. {{category}}') == 0
    or die "recsys-index build --embedder openai failed\n";

$ENV{TEST_NGINX_MODEL_INDEX} = "$tmp/model";

our $Redis = RecsysRedis->new->start;
$ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;

open my $fh, '>', "$tmp/key" or die "$tmp/key: $!";
print $fh "sk-embed-1\n";
close $fh;

$ENV{TEST_NGINX_KEY_FILE} = "$tmp/key";

our $Salt = 'test-salt-0123456789';
$ENV{TEST_NGINX_SALT} = $Salt;

sub recent_key { 'recsys:user:' . hmac_sha1_hex($_[0], $Salt) . ':recent' }

# the mock's locations every block with an endpoint shares: its URL says
# how it behaves
our $Locations = <<'EOF';
    location = /_embed {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings;
    }

    location = /_embed_slow {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings?mode=slow&slow_ms=1500;
    }

    location = /_embed_500 {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings?mode=500;
    }

    location = /_embed_503 {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings?mode=503;
    }

    location = /_embed_short {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings?mode=wrong-dim;
    }

    location = /_embed_nan {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/v1/embeddings?mode=non-numeric;
    }

    location = /_stats {
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/stats;
    }

    location = /_last {
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/last;
    }

    location = /_reset {
        proxy_method POST;
        proxy_pass http://127.0.0.1:$TEST_NGINX_EMBED_PORT/reset;
    }
EOF

add_block_preprocessor(sub {
    my $block = shift;

    if (defined $block->config && $block->config =~ /recsys_embed_location/
        && !defined $block->must_die)
    {
        $block->set_value(config => $block->config . $Locations);
    }
});

repeat_each(1);

# every request of a block is checked: counted once, by running it
plan tests => repeat_each() * 235;

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: recsys_embed_location for an index of the built-in embedder fails nginx -t
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*"recsys_embed_location" is set for index ".*t-index", which the built-in embedder embedded: its queries need no model/



=== TEST 2: recsys_embed_location must be a URI
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location _embed;
    }
--- must_die
--- error_log
invalid value "_embed" in "recsys_embed_location" directive, it must be a URI of this server or "off"



=== TEST 3: "off" where a built-in index is served under an inherited endpoint
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_embed_location /_embed;
--- config
    location = /recs {
        recsys;
        recsys_embed_location off;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=running+shoes&k=2
--- response_headers
X-Embed: builtin
--- response_body_like: "strategy":"search","embed_source":"builtin","took_ms"
--- no_error_log
[error]



=== TEST 4: without an endpoint, an index of a model answers lexically, and nginx -t says so
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=running+shoes&k=2
--- response_headers
X-Embed: lexical_fallback
!X-Recsys-Degraded
--- error_log eval
[qr/\[notice\].*index ".*model" is embedded by model "mock-embed" but this location has no "recsys_embed_location": it answers queries through the lexical companion only/,
 qr/queries without a vector from recsys_embed_location go to its lexical companion \(dim 256\)/]
--- no_error_log
[error]



=== TEST 5: the model's vector answers, one call
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 3;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=comfy+running+shoes", "GET /_stats"]
--- response_headers eval
["", "X-Embed: model\n!X-Recsys-Degraded", ""]
--- response_body_like eval
[qr/./,
 qr/^\{"query":"comfy running shoes","items":\[\{"id":"shoe-.*"count":3,"profile":"default","strategy":"search","embed_source":"model","took_ms"/,
 qr/"requests":"1"/]
--- no_error_log
[error]
[warn]



=== TEST 6: the same text again, however written, comes from the cache
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_cache_zone recsys_cache:1m;
--- config
    location = /recs {
        recsys;
        recsys_k 3;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=warm+winter+jacket",
 "GET /recs?q=Warm++WINTER%09jacket", "GET /_stats"]
--- response_headers eval
["", "X-Embed: model", "X-Embed: cache\n!X-Recsys-Degraded", ""]
--- response_body_like eval
[qr/./, qr/"embed_source":"model"/, qr/"embed_source":"model"/,
 qr/"requests":"1"/]
--- no_error_log
[error]
[warn]



=== TEST 7: the model gets the redacted, normalised text and the API key, nothing of the shopper's
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
        recsys_embed_api_key_file $TEST_NGINX_KEY_FILE;
    }
--- request eval
["GET /recs?q=Trail++Boots+for+ann.lee%40example.com&k=2", "GET /_last"]
--- more_headers
Cookie: session=shopper-secret
Authorization: Basic c2hvcHBlcjpwdw==
User-Agent: shopper-agent/1.0
X-Forwarded-For: 203.0.113.7
--- response_body_like eval
[qr/"embed_source":"model"/,
 qr/^\{"body":\{"encoding_format":"float","input":\["trail boots for \[email\]"\],"model":"mock-embed"\},"headers":\{"accept":"application\/json","authorization":"Bearer sk-embed-1","connection":"close","content-length":"\d+","content-type":"application\/json","host":"127\.0\.0\.1:\d+"\}\}$/]
--- response_body_unlike eval
[qr/^\z/, qr/shopper|203\.0\.113|ann\.lee/]
--- no_error_log
[error]



=== TEST 8: recsys_embed_model names the model sent instead of the manifest's
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
        recsys_embed_model mock-embed:latest;
    }
--- request eval
["GET /recs?q=espresso+machine&k=2", "GET /_last"]
--- response_body_like eval
[qr/"embed_source":"model"/, qr/"model":"mock-embed:latest"/]
--- no_error_log
[error]



=== TEST 9: slower than recsys_embed_timeout: the lexical companion, on time
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_slow;
        recsys_embed_timeout 300ms;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=hiking+boots&k=2
--- response_headers
X-Embed: lexical_fallback
X-Recsys-Degraded: embed
--- response_body_like: "strategy":"search","embed_source":"lexical_fallback","took_ms"
--- no_error_log
[error]
--- timeout: 1



=== TEST 10: a second request for a text being embedded joins the call in flight
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_slow;
        recsys_embed_timeout 200ms;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=camping+stove&k=2",
 "GET /recs?q=camping+stove&k=2", "GET /_stats"]
--- response_headers eval
["", "X-Embed: lexical_fallback", "X-Embed: lexical_fallback", ""]
--- response_body_like eval
[qr/./, qr/"lexical_fallback"/, qr/"lexical_fallback"/, qr/"requests":"1"/]
--- no_error_log
[error]



=== TEST 11: a 500 from the model: the lexical companion, and a warning with the reason
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_500;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=rain+jacket&k=2
--- response_headers
X-Embed: lexical_fallback
X-Recsys-Degraded: embed
--- response_body_like: "embed_source":"lexical_fallback"
--- error_log
recsys: query embedding failed: http_5xx: status 500
--- no_error_log
[error]



=== TEST 12: a failed call is remembered: the same text right after makes no call
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_cache_zone recsys_cache:1m;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_500;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=rain+hat&k=2", "GET /recs?q=rain+hat&k=2",
 "GET /_stats"]
--- response_headers eval
["", "X-Embed: lexical_fallback\nX-Recsys-Degraded: embed",
 "X-Embed: lexical_fallback\nX-Recsys-Degraded: embed", ""]
--- response_body_like eval
[qr/./, qr/"embed_source":"lexical_fallback"/,
 qr/"embed_source":"lexical_fallback"/, qr/"requests":"1"/]
--- no_error_log
[error]



=== TEST 13: a vector of another dimension is no vector
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_short;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=yoga+mat&k=2
--- response_headers
X-Embed: lexical_fallback
X-Recsys-Degraded: embed
--- response_body_like: "embed_source":"lexical_fallback"
--- error_log
recsys: query embedding failed: wrong_dimension: the vector has 47 dimensions, the index 48
--- no_error_log
[error]



=== TEST 14: a vector with a value that is not a number is no vector
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_nan;
        add_header X-Embed $recsys_embed_source;
    }
--- request
GET /recs?q=water+bottle&k=2
--- response_headers
X-Embed: lexical_fallback
X-Recsys-Degraded: embed
--- error_log
recsys: query embedding failed: bad_reply: the vector has a non-numeric value at position 0
--- no_error_log
[error]



=== TEST 15: more like this needs no call: the item's stored model vector
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 3;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?item=lap-001", "GET /_stats"]
--- response_headers eval
["", "X-Embed: model\n!X-Recsys-Degraded", ""]
--- response_body_like eval
[qr/./, qr/^\{"query":null,"items":\[\{"id":"lap-00[2-4]".*"strategy":"search","embed_source":"model"/,
 qr/"requests":"0"/]
--- no_error_log
[error]



=== TEST 16: no text, no items: popularity, and no call
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?k=2", "GET /_stats"]
--- response_headers eval
["", "X-Embed: popularity\n!X-Recsys-Degraded", ""]
--- response_body_like eval
[qr/./, qr/"strategy":"popular","embed_source":"popularity"/,
 qr/"requests":"0"/]
--- no_error_log
[error]



=== TEST 17: metrics: calls, their time, and the queries left without a vector by reason
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_metrics_zone recsys_metrics:1m;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
    }

    location = /recs500 {
        recsys;
        recsys_embed_location /_embed_503;
    }

    location = /metrics {
        recsys_metrics;
    }
--- request eval
["GET /recs?q=tents&k=2", "GET /recs500?q=socks&k=2", "GET /metrics"]
--- response_body_like eval
[qr/"model"/, qr/"lexical_fallback"/,
 qr/\nrecsys_embed_calls_total 2\n(?s:.*)\nrecsys_embed_errors_total\{reason="http_5xx"\} 1\n(?s:.*)\nrecsys_embed_seconds_count 2\n/]
--- no_error_log
[error]



=== TEST 18: five failed calls in a row open the circuit: no sixth call
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_metrics_zone recsys_metrics:1m;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed_500;
        add_header X-Embed $recsys_embed_source;
    }

    location = /metrics {
        recsys_metrics;
    }
--- request eval
["POST /_reset", "GET /recs?q=one&k=1", "GET /recs?q=two&k=1",
 "GET /recs?q=three&k=1", "GET /recs?q=four&k=1", "GET /recs?q=five&k=1",
 "GET /recs?q=six&k=1", "GET /_stats", "GET /metrics"]
--- response_headers eval
["", "X-Embed: lexical_fallback", "X-Embed: lexical_fallback",
 "X-Embed: lexical_fallback", "X-Embed: lexical_fallback",
 "X-Embed: lexical_fallback",
 "X-Embed: lexical_fallback\nX-Recsys-Degraded: embed", "", ""]
--- response_body_like eval
[qr/./, qr/./, qr/./, qr/./, qr/./, qr/./, qr/"lexical_fallback"/,
 qr/"requests":"5"/,
 qr/^(?=(?s:.*)\nrecsys_embed_errors_total\{reason="circuit_open"\} 1\n)(?=(?s:.*)\nrecsys_embed_errors_total\{reason="http_5xx"\} 5\n)/]
--- no_error_log
[error]



=== TEST 19: with the result cache, the model's answer is stored, a fallback is not
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_cache_zone recsys_cache:1m;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
        add_header X-Cache $recsys_cache_status;
    }

    location = /recs500 {
        recsys;
        recsys_cache on;
        recsys_embed_location /_embed_500;
        add_header X-Embed $recsys_embed_source;
        add_header X-Cache $recsys_cache_status;
    }
--- request eval
["GET /recs?q=wool+socks&k=2", "GET /recs?q=wool+socks&k=2",
 "GET /recs500?q=beach+towel&k=2", "GET /recs500?q=beach+towel&k=2"]
--- response_headers eval
["X-Cache: MISS\nX-Embed: model", "X-Cache: HIT\nX-Embed: model",
 "X-Cache: MISS\nX-Embed: lexical_fallback",
 "X-Cache: MISS\nX-Embed: lexical_fallback"]
--- response_body_like eval
[qr/"embed_source":"model"/, qr/"embed_source":"model"/,
 qr/"embed_source":"lexical_fallback"/, qr/"embed_source":"lexical_fallback"/]
--- no_error_log
[error]



=== TEST 20: vectors in Redis: without a shared memory zone the second request finds it there
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=cast+iron+pan&k=2",
 "GET /recs?q=cast+iron+pan&k=2", "GET /_stats"]
--- response_headers eval
["", "X-Embed: model", "X-Embed: cache", ""]
--- response_body_like eval
[qr/./, qr/"embed_source":"model"/, qr/"embed_source":"model"/,
 qr/"requests":"1"/]
--- no_error_log
[error]
[warn]



=== TEST 21: the embedding's deadline gives up the embedding alone: a slower Redis lookup is still waited for
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_k 3;
        recsys_personalize on;
        recsys_embed_location /_embed_slow;
        recsys_embed_timeout 100ms;
        add_header X-Embed $recsys_embed_source;
    }
--- init
$main::Redis->cli('DEL', main::recent_key('ada'));
$main::Redis->cli('RPUSH', main::recent_key('ada'), 'lap-001');
$main::Redis->pause(400);
--- request
GET /recs?q=laptop&user=ada
--- response_headers
X-Embed: lexical_fallback
X-Recsys-Degraded: embed
--- response_body_like: "items":\[\{"id":"lap-00[234]"
--- response_body_unlike: "id":"lap-001"
--- no_error_log
[error]
--- timeout: 1.2



=== TEST 22: recsys_embed_timeout 0 never waits: the call fills the cache for the next request
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
    recsys_cache_zone recsys_cache:1m;
--- config
    location = /recs {
        recsys;
        recsys_embed_location /_embed;
        recsys_embed_timeout 0;
        add_header X-Embed $recsys_embed_source;
    }
--- request eval
["POST /_reset", "GET /recs?q=desk+lamp&k=2", "GET /recs?q=desk+lamp&k=2",
 "GET /_stats"]
--- wait: 0.3
--- response_headers eval
["", "X-Embed: lexical_fallback\nX-Recsys-Degraded: embed",
 "X-Embed: cache\n!X-Recsys-Degraded", ""]
--- response_body_like eval
[qr/./, qr/"embed_source":"lexical_fallback"/, qr/"embed_source":"model"/,
 qr/"requests":"1"/]
--- no_error_log
[error]
