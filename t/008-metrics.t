# Metrics: counters and histograms every worker feeds into one shared zone,
# served in the Prometheus text format by "recsys_metrics".

use Test::Nginx::Socket;
use Cwd qw(cwd);
use File::Temp qw(tempfile);
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use RecsysNginx;

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

# the promtool of Debian's "prometheus" package, if there is one
my ($promtool) = grep { -x } map { "$_/promtool" } split /:/, $ENV{PATH};

# a request to the nginx under test on a connection of its own, from the
# blocks' "--- init": (status, lowercased headers)
sub http {
    my ($method, $path) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port_for_client(),
                                     Proto => 'tcp', Timeout => 5)
        or die "cannot connect: $!\n";
    print $sock "$method $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    my $res = do { local $/; <$sock> } // '';
    close $sock;
    my ($head) = split /\r\n\r\n/, $res, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)} or die "no answer\n";
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1, $2) : () }
            split /\r\n/, $head;
    return ($status, \%h);
}

# what most blocks count: 12 answers of 5 items and 4 bad requests;
# returns how many workers answered
sub recs_traffic {
    my %workers;
    for (1 .. 12) {
        my ($status, $h) = http(GET => '/recs?q=running+shoes');
        die "/recs answered $status\n" unless $status == 200;
        $workers{$h->{'x-worker'} // ''}++;
    }
    for (1 .. 4) {
        my ($status) = http(GET => '/recs?q=shoes&k=0');
        die "/recs?k=0 answered $status\n" unless $status == 400;
    }
    return scalar keys %workers;
}

# a block without a config of its own gets this one
add_block_preprocessor(sub {
    my ($block) = @_;
    return if defined $block->config;

    $block->set_value('http_config', <<'_EOC_');
    recsys_index $TEST_NGINX_INDEX;
    recsys_metrics_zone metrics:1m;

    # one listening socket per worker, so connections go to both; on the
    # wildcard address, which also serves the test server's 127.0.0.1
    # listen (upstream Test::Nginx listens on the wildcard itself)
    server {
        listen $TEST_NGINX_SERVER_PORT reuseport;
        server_name reuseport.invalid;
    }
_EOC_

    $block->set_value('config', <<'_EOC_');
    location = /recs {
        recsys;
        recsys_k 5;
        add_header X-Worker $pid always;
    }

    location = /metrics {
        recsys_metrics;
    }
_EOC_
});

# a block with "--- promtool" has its answer checked by promtool
add_response_body_check(sub {
    my ($block, $body) = @_;
    return unless defined $block->{promtool};
    my $name = $block->name;
    SKIP: {
        skip "$name - promtool not found (apt-get install prometheus)", 1
            unless $promtool;
        my ($fh, $file) = tempfile(UNLINK => 1);
        print $fh $body // '';
        close $fh;
        my $out = `$promtool check metrics < $file 2>&1`;
        is($? >> 8, 0, "$name - promtool check metrics") or diag($out);
    }
});

master_on();
workers(2);
repeat_each(1);

# per block: the status (or must_die) and the body (or error_log); plus the
# no_error_log of the 11 blocks with a request, the header and promtool
# checks of TEST 7 and the worker count of TEST 1
plan tests => blocks() * 2 + 11 + 2 + 1;

no_long_string();
run_tests();

__DATA__

=== TEST 1: the requests of both workers add up, by status and format
--- init
Test::More::is(main::recs_traffic(), 2,
               $block->name . ' - both workers answered');
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_requests_total\{status="200",format="json"\}\ 12\n
   recsys_requests_total\{status="400",format="json"\}\ 4\n/mx
--- no_error_log
[error]



=== TEST 2: exposures are the items shown, per variant
--- init
main::recs_traffic();
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_exposures_total\{variant="default"\} 60$/m
--- no_error_log
[error]



=== TEST 3: a histogram of the whole request, the 400s too
--- init
main::recs_traffic();
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_request_seconds_bucket\{le="2\.5"\}\ 16\n
   recsys_request_seconds_bucket\{le="\+Inf"\}\ 16\n
   recsys_request_seconds_sum\ [0-9.]+\n
   recsys_request_seconds_count\ 16\n/mx
--- no_error_log
[error]



=== TEST 4: a histogram per stage, of the requests that reached it
--- init
main::recs_traffic();
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_stage_seconds_bucket\{stage="parse",le="0\.00005"\}\ \d+\n
   (?:recsys_stage_seconds_bucket\{stage="parse",le="[0-9.]+"\}\ \d+\n){14}
   recsys_stage_seconds_bucket\{stage="parse",le="\+Inf"\}\ 12\n
   recsys_stage_seconds_sum\{stage="parse"\}\ [0-9.]+\n
   recsys_stage_seconds_count\{stage="parse"\}\ 12\n
   (?s:.*)
   ^recsys_stage_seconds_count\{stage="embed"\}\ 12\n
   (?s:.*)
   ^recsys_stage_seconds_count\{stage="retrieve"\}\ 12\n
   (?s:.*)
   ^recsys_stage_seconds_count\{stage="rank"\}\ 12\n
   (?s:.*)
   ^recsys_stage_seconds_count\{stage="render"\}\ 12\n/mx
--- no_error_log
[error]



=== TEST 5: families nothing feeds yet are their HELP and TYPE alone
--- request
GET /metrics
--- response_body_like eval
qr/^# TYPE recsys_clicks_total counter\n# HELP recsys_purchases_total /m
--- no_error_log
[error]



=== TEST 6: the loaded index is a gauge
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_index_items\{index="[^"]+\/t-index",version="[^"]+"\} 50$/m
--- no_error_log
[error]



=== TEST 7: the page passes promtool check metrics
--- init
main::recs_traffic();
--- request
GET /metrics
--- promtool
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like chomp
^# HELP recsys_requests_total
--- no_error_log
[error]



=== TEST 8: the counters survive a reload
--- init
main::recs_traffic();
RecsysNginx::reload_nginx();
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_requests_total\{status="200",format="json"\}\ 12\n
   recsys_requests_total\{status="400",format="json"\}\ 4\n/mx
--- no_error_log
[error]



=== TEST 9: HTML answers are counted apart, a HEAD shows no items
--- init
main::http(GET => '/recs?format=html') for 1 .. 2;
main::http(HEAD => '/recs');
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_requests_total\{status="200",format="html"\}\ 2\n
   recsys_requests_total\{status="200",format="json"\}\ 1\n
   (?s:.*)
   ^recsys_exposures_total\{variant="default"\}\ 10$/mx
--- no_error_log
[error]



=== TEST 10: past 64 variants, new ones are counted as "other"
--- http_config eval
"recsys_index \$TEST_NGINX_INDEX;\n"
. "recsys_metrics_zone variants:1m;\n"
. join '', map { "recsys_profile p$_ { weight popularity 0.5; }\n" } 1 .. 66
--- config
    location = /recs {
        recsys;
        recsys_k 1;
        recsys_use_profile $arg_p;
    }

    location = /metrics {
        recsys_metrics;
    }
--- init
for my $p (1 .. 66, 1, 66) {
    my ($status) = main::http(GET => "/recs?q=tent&p=p$p");
    die "/recs?p=p$p answered $status\n" unless $status == 200;
}
--- request
GET /metrics
--- response_body_like eval
qr/^recsys_exposures_total\{variant="p1"\}\ 2\n
   (?:recsys_exposures_total\{variant="p\d+"\}\ 1\n){63}
   recsys_exposures_total\{variant="other"\}\ 3\n
   \#/mx
--- no_error_log
[error]



=== TEST 11: only GET and HEAD
--- request
POST /metrics
x=1
--- error_code: 405
--- response_body_like chomp
405 Not Allowed
--- no_error_log
[error]



=== TEST 12: without a zone, nginx -t fails
--- config
    location = /metrics {
        recsys_metrics;
    }
--- must_die
--- error_log eval
qr/"recsys_metrics" needs a "recsys_metrics_zone" in the http block in \S+:\d+/



=== TEST 13: a zone size that is not a size
--- http_config
    recsys_metrics_zone metrics:lots;
--- config
    location = /metrics {
        recsys_metrics;
    }
--- must_die
--- error_log
invalid zone size "metrics:lots"



=== TEST 14: a zone too small for the slab allocator
--- http_config
    recsys_metrics_zone metrics:1k;
--- config
    location = /metrics {
        recsys_metrics;
    }
--- must_die
--- error_log
zone "metrics:1k" is too small



=== TEST 15: recsys_metrics_zone twice
--- http_config
    recsys_metrics_zone metrics:1m;
    recsys_metrics_zone other:1m;
--- config
    location = /metrics {
        recsys_metrics;
    }
--- must_die
--- error_log
"recsys_metrics_zone" directive is duplicate



=== TEST 16: recsys_metrics twice in a location
--- http_config
    recsys_metrics_zone metrics:1m;
--- config
    location = /metrics {
        recsys_metrics;
        recsys_metrics;
    }
--- must_die
--- error_log
"recsys_metrics" directive is duplicate
