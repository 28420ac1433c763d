# The Redis client and the events endpoint, against real redis-servers the
# suite starts on spare ports (t/lib/RecsysRedis.pm): events written and
# read back with redis-cli, bad events refused with nothing written, and
# the failures: Redis absent at startup, killed and restarted, paused past
# the timeout, a wrong password, a series of failures without an fd leak.
#
# The blocks run in order and some reuse the nginx of the block before
# (no "--- config"), so a Redis can be killed or restarted between two
# requests from "--- init".  What Redis holds after a block is checked by
# the Perl code of its "--- redis_after" section, run after the block's
# last response (add_response_body_check, which both runners have).

use Test::Nginx::Socket;
use Cwd qw(cwd);
use Digest::SHA qw(hmac_sha1_hex);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use RecsysNginx;
use RecsysRedis;

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

our $Salt = 'test-salt-0123456789';
$ENV{TEST_NGINX_SALT} = $Salt;

# the suite's main Redis, running from the start
our $Redis = RecsysRedis->new->start;
$ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;

# one nobody listens on until TEST 10 starts it
our $Late = RecsysRedis->new;
$ENV{TEST_NGINX_LATE_PORT} = $Late->port;

# one with a password, and a right and a wrong password file
our $Auth = RecsysRedis->new(password => 'right-horse-battery')->start;
$ENV{TEST_NGINX_AUTH_PORT} = $Auth->port;

my $tmp = tempdir(CLEANUP => 1);

for (['right', "right-horse-battery\n"], ['wrong', "wrong-horse\n"]) {
    open my $fh, '>', "$tmp/$_->[0].pass" or die "$tmp: $!";
    print $fh $_->[1];
    close $fh;
}

$ENV{TEST_NGINX_RIGHT_PASS} = "$tmp/right.pass";
$ENV{TEST_NGINX_WRONG_PASS} = "$tmp/wrong.pass";

our ($PauseStart, $Fd0, $Pid0);


# "--- init" is evaluated in the runner's package, where sleep and time may
# be the core's whole seconds: the blocks call these instead
sub nap { Time::HiRes::sleep($_[0]) if $_[0] > 0 }
sub now { Time::HiRes::time() }


sub user_key { 'recsys:user:' . hmac_sha1_hex($_[0], $Salt) . ':recent' }
sub purchased_key {
    'recsys:user:' . hmac_sha1_hex($_[0], $Salt) . ':purchased'
}


sub nginx_worker {
    my $pidfile = "$ENV{TEST_NGINX_SERVER_ROOT}/logs/nginx.pid";
    open my $fh, '<', $pidfile or die "$pidfile: $!";
    my $master = <$fh>;
    close $fh;
    chomp $master;

    # with master_process on, the one worker is the master's child
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $sf, '<', $stat or next;
        my $line = <$sf>;
        close $sf;
        next unless defined $line && $line =~ /^(\d+) \((.*)\) \S+ (\d+)/;
        my ($pid, $comm, $ppid) = ($1, $2, $3);
        return $pid if $ppid == $master && $comm =~ /nginx/;
    }

    return $master;
}


# the fewest of a few samples: a client connection nginx is still closing
# is not a leak
sub fd_count {
    my ($pid) = @_;
    my $min;

    for (1 .. 3) {
        opendir my $d, "/proc/$pid/fd" or die "/proc/$pid/fd: $!";
        my $n = grep { !/^\./ } readdir $d;
        closedir $d;
        $min = $n if !defined $min || $n < $min;
        sleep 0.05;
    }

    return $min;
}


# a POST from Perl, between the blocks' own requests: the status
sub post_event { RecsysNginx::post_json('/events', $_[0]) }


# kill, restart, pause: every round must fail cleanly and recover
sub failure_series {
    my $ev = '{"user":"erin","item":"shoe-004","type":"view"}';

    for my $round (1 .. 3) {
        $Redis->kill;
        sleep 0.1;
        is(post_event($ev), 503, "series $round: 503 after the kill");
        sleep 0.35;
        is(post_event($ev), 503, "series $round: 503 while it is down");
        $Redis->start;
        sleep 0.4;
        is(post_event($ev), 202, "series $round: 202 after the restart");
    }

    $Redis->pause(1000);
    is(post_event($ev), 503, "series: 503 while paused");
    sleep 1.2;
    is(post_event($ev), 202, "series: 202 after the pause");
}


RecsysNginx::redis_after_section();


repeat_each(1);
no_shuffle();
no_long_string();

plan tests => 132;

run_tests();

__DATA__

=== TEST 1: events accepted, and in Redis under hashed users
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
$main::Redis->cli('FLUSHALL');
--- request
POST /events
[{"user":"alice","item":"shoe-001","type":"view","ts":1732000000},
 {"user":"alice","item":"shoe-002","type":"click","variant":"B",
  "request_id":"r-1"},
 {"user":"alice","item":"shoe-001","type":"purchase","variant":"B"},
 {"user":"bob","item":"shoe-003","type":"add_to_cart","variant":"B"}]
--- error_code: 202
--- response_body
{"accepted":4}
--- redis_after
my $r = $main::Redis;
my @pop = $r->cli('KEYS', 'recsys:*:popular');
is(scalar @pop, 1, "one popularity key");
is($r->cli('ZSCORE', $pop[0], 'shoe-001'), 11, "view 1 + purchase 10");
is($r->cli('ZSCORE', $pop[0], 'shoe-003'), 5, "add_to_cart 5");
is("@{[ $r->cli('LRANGE', main::user_key('alice'), 0, -1) ]}",
   'shoe-001 shoe-002 shoe-001', "alice's recent items, newest first");
is("@{[ $r->cli('LRANGE', main::user_key('bob'), 0, -1) ]}",
   'shoe-003', "bob's recent items");
is("@{[ $r->cli('HGETALL', 'recsys:variant:B') ]}", 'click 1 purchase 1',
   "variant B counts clicks and purchases only");
like($r->cli('TTL', main::user_key('alice')), qr/^\d{6,7}$/,
     "the recent list expires");
is("@{[ $r->cli('SMEMBERS', main::purchased_key('alice')) ]}", 'shoe-001',
   "alice's purchases");
like($r->cli('TTL', main::purchased_key('alice')), qr/^\d{6,7}$/,
     "the purchased set expires");
is($r->cli('EXISTS', main::purchased_key('bob')), 0,
   "bob bought nothing");
is(scalar(grep { /alice|bob/ } $r->cli('KEYS', '*')), 0,
   "no raw user id in a key");
--- no_error_log
[error]



=== TEST 2: bad events get a 400 and nothing is written
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
$main::Redis->cli('FLUSHALL');
--- request eval
my $ok = '{"user":"u","item":"shoe-001","type":"view"}';
[
"POST /events\n{\"user\":",
"POST /events\n[42]",
"POST /events\n[$ok, {\"user\":\"u\",\"item\":\"no-such\",\"type\":\"view\"}]",
"POST /events\n[$ok, {\"user\":\"u\",\"item\":\"shoe-001\",\"type\":\"like\"}]",
"POST /events\n[$ok, {\"item\":\"shoe-001\",\"type\":\"view\"}]",
"POST /events\n[" . ("$ok," x 100) . "$ok]",
"POST /events\n[$ok, {\"user\":\"u\",\"item\":\"shoe-001\",\"type\":\"click\",\"variant\":\"a b\"}]",
]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[
'"code":"invalid_json"',
'"code":"invalid_event".*event 0: not an object',
'"code":"unknown_item".*event 1: no item with id \\\\"no-such\\\\"',
'"code":"invalid_event".*event 1: \\\\"type\\\\" must be one of',
'"code":"invalid_event".*event 1: \\\\"user\\\\" must be',
'"code":"too_many_events"',
'"code":"invalid_event".*event 1: \\\\"variant\\\\" must be',
]
--- redis_after
is($main::Redis->cli('DBSIZE'), 0, "nothing written");
--- no_error_log
[error]



=== TEST 3: only POST
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- request
GET /events
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: "code":"method_not_allowed"
--- no_error_log
[error]



=== TEST 4: a wrong password: 503, and the log says why
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_AUTH_PORT
                 password_file=$TEST_NGINX_WRONG_PASS timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- request
POST /events
{"user":"u","item":"shoe-001","type":"view"}
--- error_code: 503
--- response_headers_like
Retry-After: ^\d+$
--- response_body_like: "code":"redis_unavailable".*Redis refused the connection
--- error_log eval
qr/\[error\] .*recsys: redis 127\.0\.0\.1:\d+: AUTH failed: "WRONGPASS/
--- no_error_log
[alert]
[crit]



=== TEST 5: the right password, and db=2
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_AUTH_PORT db=2
                 password_file=$TEST_NGINX_RIGHT_PASS timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
$main::Auth->cli('FLUSHALL');
--- request
POST /events
{"user":"u","item":"shoe-001","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- redis_after
is($main::Auth->cli('-n', 2, 'DBSIZE'), 2, "written to db 2");
is($main::Auth->cli('-n', 0, 'DBSIZE'), 0, "not to db 0");
--- no_error_log
[error]



=== TEST 6: Redis absent when nginx starts: 503 with Retry-After
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_LATE_PORT max_fails=3
                 fail_timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
    location = /recs {
        recsys;
    }
--- request
POST /events
{"user":"u","item":"shoe-001","type":"view"}
--- error_code: 503
--- response_headers_like
Retry-After: ^\d+$
--- response_body_like: "code":"redis_unavailable"
--- grep_error_log: connect failed
--- grep_error_log_out
connect failed
--- no_error_log
[error]



=== TEST 7: ... more events get 503 at once, recommendations still work
--- request eval
[ (("POST /events\n{\"user\":\"u\",\"item\":\"shoe-001\",\"type\":\"view\"}")
   x 8), "GET /recs?q=running+shoes" ]
--- error_code eval
[ (503) x 8, 200 ]
--- response_body_like eval
[ ('"code":"redis_unavailable"') x 8, '"items":\[\{' ]
--- no_error_log
[error]



=== TEST 8: ... and the log has a warning per backoff period, no flood
--- request
GET /recs?q=running+shoes
--- response_body_like: "items":\[\{
--- grep_error_log eval: qr/\[warn\] .*connect failed/
--- grep_error_log_out eval
qr/\A(?:[^\n]*connect failed\n){1,4}\z/
--- no_error_log
[error]



=== TEST 9: ... Redis comes up: the worker connects by itself
--- init
$main::Late->start;
main::nap(1.3);    # longer than fail_timeout
--- request
POST /events
{"user":"u","item":"shoe-001","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- no_error_log
[error]



=== TEST 10: Redis killed: 503, the loss is logged
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
$main::Redis->cli('FLUSHALL');
main::post_event('{"user":"carol","item":"shoe-001","type":"view"}') == 202
    or die "no 202 before the kill";
$main::Redis->kill;
main::nap(0.2);
--- request
POST /events
{"user":"carol","item":"shoe-002","type":"view"}
--- error_code: 503
--- response_headers_like
Retry-After: ^\d+$
--- response_body_like: "code":"redis_unavailable"
--- error_log
connection lost
--- no_error_log
[error]



=== TEST 11: ... restarted: the same worker reconnects by itself
--- init
$main::Redis->start;
main::nap(0.6);
--- request
POST /events
{"user":"carol","item":"shoe-003","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- redis_after
is("@{[ $main::Redis->cli('LRANGE', main::user_key('carol'), 0, -1) ]}",
   'shoe-003', "the event after the restart is in");
--- no_error_log
[error]



=== TEST 12: Redis paused beyond the timeout: 503 within the timeout
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
$main::Redis->cli('FLUSHALL');
$main::PauseStart = main::now();
$main::Redis->pause(2500);
--- request
POST /events
{"user":"dave","item":"shoe-001","type":"view"}
--- timeout: 1.5
--- error_code: 503
--- response_headers_like
Retry-After: ^\d+$
--- response_body_like: "code":"redis_unavailable".*did not answer in time
--- error_log
no reply within 300ms
--- no_error_log
[error]



=== TEST 13: ... the pause ends: accepted again
--- init
main::nap($main::PauseStart + 2.8 - main::now());
--- request
POST /events
{"user":"dave","item":"shoe-002","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- redis_after
# the timed-out transaction was applied when the pause ended: a client
# told 503 after a timeout may see its events counted (docs/redis.md)
is($main::Redis->cli('LLEN', main::user_key('dave')), 2,
   "the late transaction and the new one");
--- no_error_log
[error]



=== TEST 14: kills, restarts and pauses: no crash, no descriptor leak
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=200ms
                 max_fails=2 fail_timeout=300ms;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /events {
        recsys_events;
    }
--- init
main::post_event('{"user":"erin","item":"shoe-004","type":"view"}') == 202
    or die "no 202 before the series";
$main::Pid0 = main::nginx_worker();
$main::Fd0 = main::fd_count($main::Pid0);
main::failure_series();
--- request
POST /events
{"user":"erin","item":"shoe-004","type":"view"}
--- error_code: 202
--- response_body
{"accepted":1}
--- redis_after
is(main::nginx_worker(), $main::Pid0, "the same worker");
is(main::fd_count($main::Pid0), $main::Fd0, "as many descriptors as before");
--- no_error_log
[error]
[alert]
[crit]



=== TEST 15: clicks and purchases per variant reach the metrics
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
    recsys_user_salt $TEST_NGINX_SALT;
    recsys_metrics_zone recsys_metrics:1m;
--- config
    location = /events {
        recsys_events;
    }
    location = /metrics {
        recsys_metrics;
    }
--- init
$main::Redis->cli('FLUSHALL');
--- request eval
['POST /events
[{"user":"carol","item":"shoe-002","type":"click","variant":"B"},
 {"user":"carol","item":"shoe-002","type":"click","variant":"B"},
 {"user":"carol","item":"shoe-002","type":"purchase","variant":"B"},
 {"user":"carol","item":"shoe-003","type":"view","variant":"B"},
 {"user":"dave","item":"shoe-003","type":"click"}]',
 'GET /metrics']
--- error_code eval
[202, 200]
--- response_body_like eval
['^\{"accepted":5\}$',
 'recsys_clicks_total\{variant="B"\} 2\n.*recsys_purchases_total\{variant="B"\} 1\n']
--- no_error_log
[error]
