# Live popularity: the events' counters in Redis, read by a background
# timer into "recsys_popularity_zone", against a real redis-server the
# suite starts (t/lib/RecsysRedis.pm).  Two workers share one refresh per
# interval; a reload to another index version drops the old scores; Redis
# down is logged once and answers stay 200.
#
# The blocks run in order and some reuse the nginx of the block before (no
# "--- config").  What is in the zone shows in the metrics
# (recsys_popularity_live_items, recsys_popularity_refreshes_total).

use Test::Nginx::Socket;
use Cwd qw(cwd);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use RecsysNginx;
use RecsysRedis;

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';
$ENV{TEST_NGINX_SALT} = 'test-salt-0123456789';

our $Redis = RecsysRedis->new->start;
$ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;

# nobody listens here until TEST 11 starts it
our $Late = RecsysRedis->new;
$ENV{TEST_NGINX_LATE_PORT} = $Late->port;

# the fixture index under another version, as a new build would be
my $tmp = tempdir(CLEANUP => 1);
opendir my $dh, $ENV{TEST_NGINX_INDEX} or die "$ENV{TEST_NGINX_INDEX}: $!";
for my $f (grep { -f "$ENV{TEST_NGINX_INDEX}/$_" } readdir $dh) {
    copy("$ENV{TEST_NGINX_INDEX}/$f", "$tmp/$f") or die "copy $f: $!";
}
closedir $dh;

open my $fh, '<', "$tmp/manifest.json" or die $!;
my $manifest = do { local $/; <$fh> };
close $fh;
$manifest =~ s/"version": "[0-9a-f]+"/"version": "feedfacefeedface"/
    or die "no version in the manifest";
open $fh, '>', "$tmp/manifest.json" or die $!;
print $fh $manifest;
close $fh;

$ENV{TEST_NGINX_INDEX_V2} = $tmp;

our ($Reload);


sub purchases {
    my ($item, $n) = @_;
    return '[' . join(',', map {
        qq({"user":"u$_","item":"$item","type":"purchase"})
    } 1 .. $n) . ']';
}


sub post_events {
    my $status = RecsysNginx::post_json('/events', $_[0]);
    die "events not accepted: $status\n" unless $status == 202;
}


RecsysNginx::redis_after_section();

master_on();
workers(2);
repeat_each(1);
no_shuffle();
no_long_string();

# must_die blocks count 2; the others a status, a body, each error_log
# pattern and the redis_after checks
plan tests => 37;

run_tests();

__DATA__

=== TEST 1: recsys_popularity_refresh needs recsys_popularity_zone
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    recsys_popularity_refresh 30s;
--- config
--- must_die
--- error_log
"recsys_popularity_zone" and "recsys_popularity_refresh" go together



=== TEST 2: ... and recsys_redis
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 30s;
--- config
--- must_die
--- error_log
"recsys_popularity_refresh" needs a "recsys_redis" in the http block



=== TEST 3: ... at least a second apart
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 500ms;
--- config
--- must_die
--- error_log
invalid value "500ms", it must be a time of 1s or more



=== TEST 4: purchases reach the zone at the next refresh
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
    recsys_metrics_zone metrics:1m;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 1s;
--- config
    location = /events {
        recsys_events;
    }
    location = /metrics {
        recsys_metrics;
    }
--- init
$main::Redis->cli('FLUSHALL');
main::post_events(main::purchases('toy-004', 20));
RecsysNginx::nap(1.5);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_refreshes_total\{result="ok"\} [1-9]\d*$
.*^recsys_popularity_live_items 1$/ms
--- no_error_log
[error]
[warn]



=== TEST 5: ... and every refresh after it
--- init
main::post_events('{"user":"v","item":"shoe-010","type":"view"}');
RecsysNginx::nap(1.3);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_live_items 2$/m
--- no_error_log
[error]



=== TEST 6: two workers read Redis once per interval
--- init
$main::Redis->cli('CONFIG', 'RESETSTAT');
RecsysNginx::nap(3.1);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_live_items 2$/m
--- redis_after
my $calls = $main::Redis->calls('zrevrange');
ok($calls >= 2 && $calls <= 4, "3 refreshes in 3.1s, not 6: $calls");
--- no_error_log
[error]



=== TEST 7: a reload to another index version drops the old scores
--- init
$main::Reload = RecsysNginx::reload_nginx(sub {
    $_[0] =~ s/recsys_index \S+;/recsys_index $ENV{TEST_NGINX_INDEX_V2};/
        or die "no recsys_index in nginx.conf";
});
RecsysNginx::nap(1.3);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_live_items 0$/m
--- error_log eval
qr/recsys_popularity_zone "popularity": the live popularity of index version [0-9a-f]{16} is dropped/
--- redis_after
# the old version's counters are still in Redis, just not read
my @keys = $main::Redis->cli('KEYS', 'recsys:*:popular');
is(scalar @keys, 1, "one popularity key in Redis");
unlike($keys[0], qr/feedface/, "of the old version");



=== TEST 8: a reload does not wait for the refresh timer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_metrics_zone metrics:1m;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 60s;
--- config
    location = /metrics {
        recsys_metrics;
    }
--- init
RecsysNginx::nap(0.3);
$main::Reload = RecsysNginx::reload_nginx();
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_refreshes_total\{result="ok"\} [1-9]/m
--- redis_after
ok($main::Reload < 5, "the old workers exited at once: ${main::Reload}s");
--- no_error_log
[error]



=== TEST 9: Redis down: answers stay 200, said once
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_LATE_PORT;
    recsys_metrics_zone metrics:1m;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 1s;
--- config
    location = /recs {
        recsys;
    }
    location = /metrics {
        recsys_metrics;
    }
--- init
RecsysNginx::nap(2.6);
--- request
GET /recs?q=running+shoes
--- response_body_like: "items":\[\{"id":"shoe-
--- grep_error_log eval: qr/recsys_popularity_refresh: [^;]+/
--- grep_error_log_out eval
qr/\Arecsys_popularity_refresh: (?:Redis is not connected|the connection to Redis was lost|Redis did not answer in time)\n\z/
--- no_error_log
[error]



=== TEST 10: ... every refresh failed
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_refreshes_total\{result="error"\} [2-9]$/m
--- no_error_log
[error]



=== TEST 11: ... Redis comes up: refreshed again, said once
--- init
$main::Late->start;
RecsysNginx::nap(3);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_refreshes_total\{result="ok"\} [1-9]/m
--- error_log
recsys_popularity_refresh: Redis answers again
--- no_error_log
[error]
