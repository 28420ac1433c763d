# Concurrent shoppers asking for the same narrative: one call to the model
# per key in flight in a worker, every waiting request answered with its
# result.  Test::More with nginx started here (t/browser/Examples.pm),
# since Test::Nginx sends one request at a time; the model is the mock of
# t/mock-llm.pl answering after a delay, so the requests overlap.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use POSIX ();

use lib "$FindBin::Bin/browser";
use Examples;
use RecsysMock;

plan skip_all => "$Examples::MODULE not built" unless -f $Examples::MODULE;
plan skip_all => "no index at $Examples::INDEX"
    unless -f "$Examples::INDEX/manifest.json";

my $Clients = 8;

my $llm = RecsysMock->new(delay => 1)->start;
my $port = $llm->port;

my $prefix = tempdir(CLEANUP => 1);
Examples::make_prefix('none', $prefix);

my $srv = Examples::start_conf($prefix, <<"EOF");
load_module modules/ngx_http_recsys_module.so;
worker_processes 1;
error_log logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    recsys_index index;
    recsys_cache_zone recsys_cache:1m;

    server {
        listen 127.0.0.1:8080;

        location = /recs {
            recsys;
            recsys_narrative sync;
            recsys_llm_location /_llm;
            recsys_llm_model test-model;
            recsys_llm_timeout 5s;
        }

        location = /async {
            recsys;
            recsys_narrative async;
            recsys_llm_location /_llm;
            recsys_llm_model test-model;
        }

        location = /_llm {
            internal;
            proxy_pass http://127.0.0.1:$port/v1/chat/completions;
        }
    }
}
EOF

# each client in a process of its own, all connected before any asks
sub fetch_all {
    my ($path, $n) = @_;
    my (@socks, @pids);

    for (1 .. $n) {
        push @socks, IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                           PeerPort => $srv->{port},
                                           Timeout => 10)
            or die "connect: $!";
    }

    my $dir = tempdir(CLEANUP => 1);

    for my $i (0 .. $#socks) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $s = $socks[$i];
            print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
            local $/;
            my $res = <$s> // '';
            open my $fh, '>', "$dir/$i" or POSIX::_exit(1);
            print $fh $res;
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    waitpid $_, 0 for @pids;

    return map { Examples::slurp("$dir/$_") } 0 .. $#socks;
}

$llm->reset;

my @res = fetch_all('/recs?q=trail+running+shoes&k=3', $Clients);

is scalar(grep { m{^HTTP/1\.1 200 } } @res), $Clients,
    "all $Clients concurrent shoppers get a 200";
is scalar(grep { /"narrative":\{"summary":"[^"]+","source":"llm"/ } @res),
    $Clients, "every one of them gets the model's narrative";
is $llm->count, 1, 'from one call to the model';

# the same key once it is answered comes from the cache, with no call
$llm->reset;
@res = fetch_all('/recs?q=trail+running+shoes&k=3', 2);
is $llm->count, 0, 'no call for a narrative in the cache';
is scalar(grep { /"source":"cache"/ } @res), 2,
    'the shoppers after them get it from the cache';

# an answer whose narrative the model has since written is a new answer
sub get {
    my ($path, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $srv->{port}, Timeout => 10)
        or die "connect: $!";
    print $s join("\r\n", "GET $path HTTP/1.0", 'Host: localhost',
                  @headers, '', '');
    local $/;
    return <$s> // '';
}

my $first = get('/async?q=camping+tent&k=2');
my ($etag) = $first =~ /^ETag: (\S+)\r$/m;
like $first, qr/"source":"template"/, 'async: the template at once';

my $later = '';
for (1 .. 60) {
    $later = get('/async?q=camping+tent&k=2', "If-None-Match: $etag");
    last if $later =~ /"source":"cache"/;
    select undef, undef, undef, 0.1;
}

like $later, qr{^HTTP/1\.1 200 }, 'the same items with the model\'s '
    . 'narrative are not "not modified"';
like $later, qr/"source":"cache"/, 'they carry the cached narrative';
unlike $later, qr/^ETag: \Q$etag\E\r$/m, 'under another ETag';

Examples::stop($srv);

unlike Examples::slurp("$prefix/logs/error.log"),
    qr/\[(?:error|alert|crit)\]/, 'no error in the log';

done_testing();
