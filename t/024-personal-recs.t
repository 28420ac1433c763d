# Personalisation and live popularity through /recs, against a Redis
# primary and a replica the suite starts (t/lib/RecsysRedis.pm).  Needs the
# recsys handler's prepare phase, which calls ngx_http_recsys_popularity()
# and ngx_http_recsys_history_fetch().
#
# The blocks run in order and reuse the nginx of TEST 1 (no "--- config").

use Test::Nginx::Socket;
use Cwd qw(cwd);
use IO::Socket::INET;
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

for (1 .. 100) {
    last if grep { /^master_link_status:up/ }
            $Replica->cli('INFO', 'replication');
    sleep 0.05;
}

our $Before;


sub post_events {
    my $status = RecsysNginx::post_json('/events', $_[0]);
    die "events not accepted: $status\n" unless $status == 202;
}


sub get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port_for_client(),
                                  Timeout => 5) or die "connect: $!\n";
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $res = <$s> // '';
    close $s;
    return $res;
}


RecsysNginx::redis_after_section();

repeat_each(1);
no_shuffle();
no_long_string();

plan tests => 48;

run_tests();

__DATA__

=== TEST 1: no history: the cold-start answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REPLICA_PORT timeout=1s;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
    recsys_popularity_zone popularity:1m;
    recsys_popularity_refresh 1s;
--- config
    location = /events {
        recsys_events;
    }
    location = /recs {
        recsys;
        recsys_k 4;
        recsys_personalize on;
    }
--- init
$main::Primary->cli('FLUSHALL');
RecsysNginx::nap(0.3);
--- request
GET /recs?user=zoe
--- response_body_like: "items":\[\{"id":"shoe-001".*"strategy":"popular"
--- no_error_log
[error]



=== TEST 2: a click changes the very next answer, read from the replica
--- init
$_->cli('CONFIG', 'RESETSTAT') for $main::Primary, $main::Replica;
main::post_events('{"user":"zoe","item":"cook-001","type":"click"}');
RecsysNginx::nap(0.1);    # replication
--- request
GET /recs?user=zoe&explain=1
--- response_body_like: "items":\[\{"id":"cook-004".*"personal":\{"value":0\.[1-9].*"strategy":"personal"
--- response_body_unlike: "id":"cook-001"
--- redis_after
ok($main::Replica->calls('lrange') >= 1, "the history was read from the replica");
is($main::Primary->calls('lrange'), 0, "not from the primary");
--- no_error_log
[error]



=== TEST 3: what was bought is never shown
--- init
main::post_events('{"user":"yan","item":"cook-001","type":"purchase"}');
RecsysNginx::nap(0.1);
--- request eval
["GET /recs?q=cast+iron+skillet", "GET /recs?q=cast+iron+skillet&user=yan"]
--- response_body_like eval
['"items":\[\{"id":"cook-001"', '"items":\[\{"id":"cook-004"']
--- no_error_log
[error]



=== TEST 4: a history of the wrong type in Redis: 200 without it, degraded
--- init
use Digest::SHA qw(hmac_sha1_hex);
my $key = 'recsys:user:' . hmac_sha1_hex('wes', $ENV{TEST_NGINX_SALT});
$main::Primary->cli('SET', "$key:recent", 'not a list');
RecsysNginx::nap(0.1);
--- request
GET /recs?user=wes&q=cast+iron+skillet
--- response_headers
X-Recsys-Degraded: redis
--- response_body_like: "items":\[\{"id":"cook-001"
--- no_error_log
[error]



=== TEST 5: purchases lift an item's popularity at the next refresh
--- init
$main::Primary->cli('FLUSHALL');
RecsysNginx::nap(1.2);
$main::Before = main::get('/recs?q=wooden+train+set&explain=1&k=1');
main::post_events('[' . join(',', map {
    qq({"user":"p$_","item":"toy-004","type":"purchase"})
} 1 .. 50) . ']');
# the next refresh, from the replica: polled rather than guessed
for (1 .. 50) {
    RecsysNginx::nap(0.1);
    last if main::get('/recs?q=wooden+train+set&explain=1&k=1')
            =~ /"popularity":\{"value":0\.68/;
}
--- request
GET /recs?q=wooden+train+set&explain=1&k=1
--- response_body_like: "id":"toy-004".*"popularity":\{"value":0\.68
--- redis_after
like($main::Before, qr/"id":"toy-004".*"popularity":\{"value":0\.56/,
     "before: log(1 + 220) / log(1 + 15000); after: 220 + 500 live");
--- no_error_log
[error]



=== TEST 6: Redis down: 200 without personalisation, said to be degraded
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:1 timeout=100ms;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_personalize on;
        add_header X-Cache "[$recsys_cache_status]";
    }

    location = /cached {
        recsys;
        recsys_cache on;
        add_header X-Cache "[$recsys_cache_status]";
    }
--- request eval
["GET /recs?user=zoe", "GET /recs?user=zoe&q=shoes", "GET /cached?q=shoes"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Recsys-Degraded: redis\nX-Cache: []",
 "X-Recsys-Degraded: redis\nX-Cache: []",
 "X-Recsys-Degraded: redis\nX-Cache: [DEGRADED]"]
--- response_body_like eval
['"items":\[\{"id":"shoe-001"', '"items":\[\{"id":"shoe-',
 '"items":\[\{"id":"shoe-']
--- no_error_log
[error]



=== TEST 7: Redis paused past its timeout: the answer waits no longer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_PRIMARY_PORT timeout=200ms;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_personalize on;
    }
--- init
$main::Primary->cli('CLIENT', 'PAUSE', '1500');
--- request
GET /recs?user=zoe&q=shoes
--- response_headers
X-Recsys-Degraded: redis
--- response_body_like: "items":\[\{"id":"shoe-
--- no_error_log
[error]
--- timeout: 1



=== TEST 8: recsys_exposures counts what each answer showed, per variant
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REPLICA_PORT timeout=1s;
    recsys_redis_write 127.0.0.1:$TEST_NGINX_PRIMARY_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_exposures on;
    }
--- init
$main::Primary->cli('DEL', 'recsys:variant:default');
--- request eval
["GET /recs?q=shoes&k=3", "GET /recs?q=shoes&k=2", "HEAD /recs?q=shoes&k=3"]
--- error_code eval
[200, 200, 200]
--- redis_after
RecsysNginx::nap(0.2);
is($main::Primary->cli('HGET', 'recsys:variant:default', 'exposure'), 5,
   "3 + 2 items shown, the HEAD showed none");
--- no_error_log
[error]
