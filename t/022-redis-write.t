# "recsys_redis_write": events to a primary, reads from a replica, against
# two real redis-servers the suite starts (t/lib/RecsysRedis.pm), the
# second a replica of the first ("--replicaof"), as an edge node next to a
# replica would run (docs/redis.md).
#
# The blocks run in order and some reuse the nginx of the block before (no
# "--- config").

use Test::Nginx::Socket;
use Cwd qw(cwd);
use Time::HiRes qw(sleep);
use RecsysNginx;
use RecsysRedis;

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';
$ENV{TEST_NGINX_SALT} = 'test-salt-0123456789';

our $Primary = RecsysRedis->new->start;
our $Replica = RecsysRedis->new(args => ['--replicaof', '127.0.0.1',
                                         $Primary->port])->start;

$ENV{TEST_NGINX_PRIMARY_PORT} = $Primary->port;
$ENV{TEST_NGINX_REPLICA_PORT} = $Replica->port;

# the replica has synchronised once before the blocks run
for (1 .. 100) {
    last if grep { /^master_link_status:up/ }
            $Replica->cli('INFO', 'replication');
    sleep 0.05;
}


RecsysNginx::redis_after_section();


repeat_each(1);
no_shuffle();
no_long_string();

# must_die blocks count 2; the others a status, a body, each error_log
# pattern and the redis_after checks
plan tests => 33;

run_tests();

__DATA__

=== TEST 1: recsys_redis_write twice
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT;
--- config
--- must_die
--- error_log
"recsys_redis_write" directive is duplicate



=== TEST 2: a cached result is written to the primary, not the replica
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REPLICA_PORT timeout=1s;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT timeout=1s;
--- config
    location = /recs {
        recsys;
        recsys_cache on;
        add_header X-Cache $recsys_cache_status;
    }
--- init
$main::Primary->cli('FLUSHALL');
$_->cli('CONFIG', 'RESETSTAT') for $main::Primary, $main::Replica;
--- request
GET /recs?q=tent&k=2
--- response_headers
X-Cache: MISS
--- redis_after
# the SET is not waited for: it lands after the answer
my $deadline = Time::HiRes::time() + 5;
RecsysNginx::nap(0.05) until $main::Replica->cli('DBSIZE') == 1
                             || Time::HiRes::time() > $deadline;
is($main::Primary->calls('set'), 1, "the primary took the SET");
is($main::Replica->cli('DBSIZE'), 1, "and the replica has it replicated");
like(join("\n", $main::Replica->cli('INFO', 'stats')),
     qr/^total_error_replies:0\r?$/m, "the replica refused nothing");
--- no_error_log
[error]



=== TEST 3: ... and served from the replica on the next request
--- request
GET /recs?q=tent&k=2
--- response_headers
X-Cache: HIT
--- redis_after
ok($main::Replica->calls('get') >= 1, "the replica was read");
--- no_error_log
[error]



=== TEST 4: events go to the write address, never to the replica
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REPLICA_PORT timeout=1s;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT timeout=1s;
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
$main::Primary->cli('FLUSHALL');
$_->cli('CONFIG', 'RESETSTAT') for $main::Primary, $main::Replica;
--- request
POST /events
[{"user":"ann","item":"toy-004","type":"purchase"},
 {"user":"ann","item":"shoe-010","type":"view"}]
--- error_code: 202
--- response_body
{"accepted":2}
--- redis_after
is($main::Primary->calls('exec'), 1, "the primary ran the events");
# a replica answers writes with READONLY errors
like(join("\n", $main::Replica->cli('INFO', 'stats')),
     qr/^total_error_replies:0\r?$/m, "the replica refused nothing");
--- no_error_log
[error]



=== TEST 5: ... the popularity refresh reads the replica
--- init
RecsysNginx::nap(1.3);
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_popularity_live_items 2$/m
--- redis_after
ok($main::Replica->calls('zrevrange') >= 1, "the replica was read");
is($main::Primary->calls('zrevrange'), 0, "the primary was not");
--- no_error_log
[error]



=== TEST 6: the primary down: events 503, reads go on from the replica
--- init
$main::Primary->kill;
$main::Replica->cli('CONFIG', 'RESETSTAT');
RecsysNginx::nap(1.3);
--- request eval
["POST /events\n{\"user\":\"ann\",\"item\":\"toy-004\",\"type\":\"view\"}",
 "GET /metrics"]
--- error_code eval
[503, 200]
--- response_body_like eval
['"code":"redis_unavailable"',
 qr/^recsys_popularity_live_items 2$/m]
--- redis_after
ok($main::Replica->calls('zrevrange') >= 1,
   "the replica is still read");
--- no_error_log
[error]



=== TEST 7: events with recsys_redis_write alone
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_REPLICA_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
# the primary is gone: the replica takes writes, as after a failover
$main::Replica->cli('REPLICAOF', 'NO', 'ONE');
$main::Replica->cli('FLUSHALL');
--- request
POST /events
{"user":"bo","item":"shoe-001","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- redis_after
is(scalar(my @k = $main::Replica->cli('KEYS', 'recsys:user:*')), 1,
   "written to the new primary");
--- no_error_log
[error]
