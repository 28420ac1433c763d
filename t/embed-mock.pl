#!/usr/bin/perl
#
# A mock of the OpenAI embeddings API (POST /v1/embeddings) for the tests
# and benchmarks: deterministic vectors, misbehaviour on demand, and a
# count of every text it embedded.  Core Perl only.
#
# Start and stop:
#
#   perl t/embed-mock.pl --port 0 --port-file /tmp/p --state /tmp/mock &
#   port=$(cat /tmp/p)              # written once it accepts connections
#   curl -s 127.0.0.1:$port/v1/embeddings \
#        -d '{"model":"m","input":["running shoes","tent"]}'
#   curl -s 127.0.0.1:$port/stats   # {"requests":1,"texts":2,...}
#   kill -TERM $!                   # stops the server and its children
#
# From Perl (a Test::More script or a Test::Nginx suite), t/lib has
# RecsysEmbedMock.pm:
#
#   my $mock = RecsysEmbedMock->new(dim => 64)->start;
#   $mock->url;                     # http://127.0.0.1:PORT/v1/embeddings
#   $mock->control(mode => '500', after => 16);
#   $mock->stats->{unique};
#   $mock->stop;                    # also done when the script exits
#
# Options (start flags; the same names, with "_" for "-", are accepted in
# the query string of one request, and as a JSON object by POST /control,
# which replaces the defaults and restarts the "times" count):
#
#   --port N          0 picks a free port (see --port-file)
#   --port-file FILE  where the port is written once listening
#   --state DIR       counters and the log of embedded texts (default: a
#                     temporary directory removed at exit)
#   --dim N           vector dimension (64)
#   --seed S          seeds the vectors ("mock")
#   --latency-ms N    added to every request (0)
#   --mode M          normal | slow | 500 (or any 4xx/5xx status) | 429 |
#                     wrong-dim | non-numeric | empty-data | empty-vector
#   --slow-ms N       how long "slow" sleeps (1000)
#   --retry-after S   Retry-After header on 429 and 5xx (none; "429"
#                     defaults to 1)
#   --times N         the mode applies to N requests, then normal (0: all)
#   --after N         the mode applies once N texts have been embedded
#   --api-key KEY     answer 401 unless "Authorization: Bearer KEY"
#
# wrong-dim makes the last vector of a reply one dimension short,
# non-numeric puts a string in the first vector, empty-data answers
# "data": [] and empty-vector gives the first input an empty vector.
#
# The vectors are a normalised sum of one pseudo-random vector per
# lower-cased word, so texts sharing words are close, as with a real
# model.  Every text of a 200 reply counts as embedded: GET /stats gives
# {"requests","texts","unique","max_per_text","misbehaved"} and
# STATE/texts.log has one line per embedded text (SHA-1, tab, text).
# GET /last gives the last embeddings request as {"headers": {lower-cased
# name: value}, "body": its JSON}.  POST /reset clears the counters, the
# log and the last request.
#
# Every connection is served by its own forked process (with keep-alive),
# so concurrent clients are answered concurrently.

use strict;
use warnings;

use Digest::SHA qw(sha1_hex sha512);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use File::Temp qw(tempdir);
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);

my %Conf = (
    port => 0, 'port-file' => undef, state => undef, dim => 64,
    seed => 'mock', 'latency-ms' => 0, mode => 'normal', 'slow-ms' => 1000,
    'retry-after' => undef, times => 0, after => 0, 'api-key' => undef,
    quiet => 0,
);

GetOptions(\%Conf, 'port=i', 'port-file=s', 'state=s', 'dim=i', 'seed=s',
           'latency-ms=i', 'mode=s', 'slow-ms=i', 'retry-after=i', 'times=i',
           'after=i', 'api-key=s', 'quiet')
    or die "usage: $0 [--port N] [--port-file F] [--state DIR] [--dim N] "
         . "[--mode M] ... (see the top of this file)\n";

# the names a request or /control may set
my @Behaviour = qw(dim seed latency_ms mode slow_ms retry_after times after
                   api_key);

my $Json = JSON::PP->new->canonical;
my $State = $Conf{state} || tempdir('embed-mock-XXXXXX', TMPDIR => 1,
                                    CLEANUP => 1);
my %WordCache;

my %Defaults = map { (my $k = $_) =~ tr/_/-/; ($_ => $Conf{$k}) } @Behaviour;

mkdir $State;
write_control(\%Defaults);
reset_counters();

my $listen = IO::Socket::INET->new(Listen => 128, LocalAddr => '127.0.0.1',
                                   LocalPort => $Conf{port}, ReuseAddr => 1,
                                   Proto => 'tcp')
    or die "embed-mock: cannot listen on port $Conf{port}: $!\n";

# a stop takes the connections' processes down too
my %Children;

$SIG{CHLD} = sub {
    while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
        delete $Children{$pid};
    }
};

$SIG{TERM} = $SIG{INT} = sub {
    kill 'TERM', keys %Children;
    POSIX::_exit(0);
};

if (defined $Conf{'port-file'}) {
    my $tmp = "$Conf{'port-file'}.tmp";
    open my $fh, '>', $tmp or die "embed-mock: $tmp: $!\n";
    print $fh $listen->sockport, "\n";
    close $fh;
    rename $tmp, $Conf{'port-file'} or die "embed-mock: rename: $!\n";
}

print STDERR "embed-mock: listening on 127.0.0.1:", $listen->sockport,
             ", state in $State\n" unless $Conf{quiet};

my $chld = POSIX::SigSet->new(POSIX::SIGCHLD());

for (;;) {
    my $c = $listen->accept or next;

    # a child reaped before it is recorded would stay recorded for ever
    POSIX::sigprocmask(POSIX::SIG_BLOCK(), $chld);
    my $pid = fork;

    if (!defined $pid) {
        POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld);
        close $c;
        next;
    }

    if ($pid == 0) {
        POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld);
        close $listen;
        $SIG{CHLD} = 'DEFAULT';
        $SIG{TERM} = $SIG{INT} = sub { POSIX::_exit(0) };
        serve($c);
        POSIX::_exit(0);
    }

    $Children{$pid} = 1;
    POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld);
    close $c;
}


sub serve {
    my ($c) = @_;

    binmode $c;

    # a reply's last segment must not wait for the client's delayed ACK
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

    while (my $req = read_request($c)) {
        my ($status, $headers, $body) = route($req);
        my $keep = ($req->{headers}{connection} // '') !~ /close/i
                   && $req->{version} eq 'HTTP/1.1';

        my $head = "HTTP/1.1 $status " . reason($status) . "\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . ($keep ? '' : "Connection: close\r\n");
        $head .= "$_: $headers->{$_}\r\n" for sort keys %$headers;

        my $out = "$head\r\n$body";

        while (length $out) {
            my $n = syswrite($c, $out) or return;
            substr($out, 0, $n, '');
        }

        return unless $keep;
    }
}


sub read_request {
    my ($c) = @_;
    my $buf = '';

    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($c, $buf, 65536, length $buf);
        return undef unless $n;
    }

    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $target, $version) = split / /, $line;
    my %h;

    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $h{lc $k} = $v;
    }

    my $len = $h{'content-length'} // 0;

    while (length $rest < $len) {
        my $n = sysread($c, $rest, $len - length $rest, length $rest);
        return undef unless $n;
    }

    my ($path, $query) = split /\?/, $target, 2;
    my %q = map { my ($k, $v) = split /=/, $_, 2; ($k => $v // '') }
            split /&/, $query // '';

    return { method => $method, path => $path, query => \%q,
             version => $version // 'HTTP/1.0', headers => \%h,
             body => substr($rest, 0, $len) };
}


sub reason {
    my %r = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
             404 => 'Not Found', 429 => 'Too Many Requests',
             500 => 'Internal Server Error', 503 => 'Service Unavailable');
    return $r{$_[0]} // 'Error';
}


sub error {
    my ($status, $msg, $headers) = @_;
    return ($status, $headers // {},
            $Json->encode({ error => { message => $msg, type => 'mock' } }));
}


sub route {
    my ($req) = @_;
    my $p = $req->{path};

    return embeddings($req)
        if $req->{method} eq 'POST' && $p =~ m{/embeddings$};
    return (200, {}, $Json->encode(stats())) if $p eq '/stats';
    return (200, {}, read_file("$State/last.json") // '{}') if $p eq '/last';

    if ($req->{method} eq 'POST' && $p eq '/reset') {
        locked(sub { reset_counters() });
        return (200, {}, '{}');
    }

    if ($req->{method} eq 'POST' && $p eq '/control') {
        my $set = eval { decode_json($req->{body}) };
        return error(400, 'a JSON object is expected')
            unless ref $set eq 'HASH';

        my %c = %Defaults;
        for (@Behaviour) { $c{$_} = $set->{$_} if exists $set->{$_} }
        locked(sub { write_control(\%c); set_counter(misbehaved => 0) });

        return (200, {}, $Json->encode(\%c));
    }

    return error(404, "no route for $req->{method} $p");
}


sub embeddings {
    my ($req) = @_;

    my $body = eval { decode_json($req->{body}) };
    return error(400, 'the body is not JSON') unless ref $body eq 'HASH';

    write_file("$State/last.json",
               $Json->encode({ headers => $req->{headers}, body => $body }));

    my $input = $body->{input};
    $input = [$input] unless ref $input;

    return error(400, '"input" must be a string or an array of strings')
        if ref $input ne 'ARRAY' || !@$input || grep { ref } @$input;

    my %b = %{ read_control() };
    for (@Behaviour) {
        $b{$_} = url_decode($req->{query}{$_}) if exists $req->{query}{$_};
    }

    return error(401, 'invalid API key')
        if defined $b{api_key} && $b{api_key} ne ''
           && ($req->{headers}{authorization} // '') ne "Bearer $b{api_key}";

    sleep($b{latency_ms} / 1000) if $b{latency_ms};

    # decide and count under one lock, so "after" and "times" hold across
    # the concurrent connections
    my $mode = locked(sub {
        my %s = read_counters();
        my $m = $b{mode};

        if ($m ne 'normal' && $s{texts} >= ($b{after} || 0)
            && (!$b{times} || $s{misbehaved} < $b{times}))
        {
            $s{misbehaved}++;
        } else {
            $m = 'normal';
        }

        $s{requests}++;

        if ($m !~ /^\d+$/ && $m ne 'slow') {
            $s{texts} += @$input;
            log_texts($input);
        }

        write_counters(%s);

        return $m;
    });

    if ($mode eq 'slow') {
        sleep(($b{slow_ms} || 0) / 1000);
        locked(sub {
            my %s = read_counters();
            $s{texts} += @$input;
            log_texts($input);
            write_counters(%s);
        });
    }

    if ($mode =~ /^\d+$/) {
        my $ra = $b{retry_after} // ($mode == 429 ? 1 : undef);
        return error($mode, "mock failure $mode",
                     defined $ra ? { 'Retry-After' => $ra } : {});
    }

    return reply($body->{model}, $input, \%b, $mode);
}


sub reply {
    my ($model, $input, $b, $mode) = @_;
    my @data;

    return (200, {}, '{"object":"list","data":[],"model":'
                     . $Json->encode($model // '') . '}')
        if $mode eq 'empty-data';

    for my $i (0 .. $#$input) {
        my @v = vector($input->[$i], $b->{dim}, $b->{seed});

        pop @v if $mode eq 'wrong-dim' && $i == $#$input;
        @v = () if $mode eq 'empty-vector' && $i == 0;

        my $emb = join ',', map { sprintf '%.6f', $_ } @v;
        $emb =~ s/^[^,]+/"NaN"/ if $mode eq 'non-numeric' && $i == 0;

        push @data, qq({"object":"embedding","index":$i,"embedding":[$emb]});
    }

    my $tokens = 0;
    $tokens += () = /\S+/g for @$input;

    return (200, {}, sprintf('{"object":"list","data":[%s],"model":%s,'
                             . '"usage":{"prompt_tokens":%d,'
                             . '"total_tokens":%d}}', join(',', @data),
                             $Json->encode($model // ''), $tokens, $tokens));
}


sub vector {
    my ($text, $dim, $seed) = @_;
    my @words = lc($text) =~ /(\w+)/g;
    my @v = (0) x $dim;

    @words = ($text) unless @words;

    for my $w (@words) {
        my $wv = $WordCache{"$seed\0$dim\0$w"} //= do {
            my ($bytes, @b) = ("$seed\0$w\0");
            utf8::encode($bytes);
            for (my $blk = 0; @b < $dim; $blk++) {
                push @b, unpack 'C*', sha512("$bytes$blk");
            }
            [map { $_ / 127.5 - 1 } @b[0 .. $dim - 1]];
        };
        $v[$_] += $wv->[$_] for 0 .. $dim - 1;
    }

    my $norm = 0;
    $norm += $_ * $_ for @v;
    $norm = sqrt($norm) || 1;

    return map { $_ / $norm } @v;
}


sub url_decode {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9a-fA-F]{2})/chr hex $1/ge;
    return $s;
}


sub locked {
    my ($fn) = @_;
    open my $lock, '>>', "$State/lock" or die "embed-mock: lock: $!\n";
    flock $lock, LOCK_EX or die "embed-mock: flock: $!\n";
    my @r = $fn->();
    close $lock;
    return wantarray ? @r : $r[0];
}


sub read_counters {
    my %s = (requests => 0, texts => 0, misbehaved => 0);
    if (open my $fh, '<', "$State/counters") {
        while (<$fh>) { $s{$1} = $2 if /^(\w+)=(\d+)$/ }
    }
    return %s;
}


sub write_counters {
    my (%s) = @_;
    open my $fh, '>', "$State/counters.tmp" or die "embed-mock: $!\n";
    print $fh map { "$_=$s{$_}\n" } sort keys %s;
    close $fh;
    rename "$State/counters.tmp", "$State/counters" or die "embed-mock: $!\n";
}


sub set_counter {
    my ($k, $v) = @_;
    my %s = read_counters();
    $s{$k} = $v;
    write_counters(%s);
}


sub reset_counters {
    write_counters(requests => 0, texts => 0, misbehaved => 0);
    unlink "$State/last.json";
    open my $fh, '>', "$State/texts.log" or die "embed-mock: $!\n";
    close $fh;
}


sub log_texts {
    my ($input) = @_;
    my $lines = '';

    for (@$input) {
        (my $t = $_) =~ s/[\t\r\n]/ /g;
        utf8::encode($t);
        $lines .= sha1_hex($t) . "\t$t\n";
    }

    sysopen my $fh, "$State/texts.log", O_WRONLY | O_APPEND | O_CREAT
        or die "embed-mock: texts.log: $!\n";
    syswrite $fh, $lines;
    close $fh;
}


sub stats {
    my %s = locked(sub { read_counters() });
    my %seen;

    if (open my $fh, '<', "$State/texts.log") {
        while (<$fh>) { $seen{(split /\t/)[0]}++ }
    }

    my $max = 0;
    for (values %seen) { $max = $_ if $_ > $max }

    return { %s, unique => scalar(keys %seen), max_per_text => $max };
}


sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    local $/;
    return scalar <$fh>;
}


# whole or not at all, for readers in other processes
sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', "$path.$$" or die "embed-mock: $path: $!\n";
    print $fh $text;
    close $fh;
    rename "$path.$$", $path or die "embed-mock: rename: $!\n";
}


sub read_control {
    open my $fh, '<', "$State/control.json" or return {%Defaults};
    local $/;
    return decode_json(<$fh>);
}


sub write_control {
    my ($c) = @_;
    open my $fh, '>', "$State/control.tmp" or die "embed-mock: $!\n";
    print $fh $Json->encode($c);
    close $fh;
    rename "$State/control.tmp", "$State/control.json"
        or die "embed-mock: $!\n";
}
