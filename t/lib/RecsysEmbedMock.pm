package RecsysEmbedMock;

# The mock embeddings server (t/embed-mock.pl) for the test suites and
# benchmarks: started on a free port of 127.0.0.1, steered, queried and
# stopped.  Plain Perl, independent of the Test::Nginx runner in use.
#
#   my $mock = RecsysEmbedMock->new(dim => 64, latency_ms => 20)->start;
#   $mock->port;  $mock->url;       # .../v1/embeddings
#   $mock->url(mode => 'slow', slow_ms => 800);   # one URL's behaviour
#   $mock->control(mode => '500', after => 16);   # everyone's, until reset
#   $mock->stats;                   # {requests, texts, unique, ...}
#   $mock->reset;                   # counters and the log of texts
#   $mock->log;                     # [[sha1, text], ...] in arrival order
#   $mock->last;                    # {headers, body} of the last request
#   $mock->stop;                    # SIGTERM; done for every mock at exit
#
# new() takes the start flags of t/embed-mock.pl with "_" for "-" (dim,
# seed, latency_ms, mode, slow_ms, retry_after, times, after, api_key).

use strict;
use warnings;

use File::Basename ();
use File::Spec ();
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my @Mocks;
my $Script = File::Spec->rel2abs(
    File::Spec->catfile(File::Basename::dirname(__FILE__), '..',
                        'embed-mock.pl'));


sub new {
    my ($class, %opt) = @_;

    my $self = bless {
        opt => \%opt,
        dir => File::Temp::tempdir('recsys-embed-mock-XXXXXX', TMPDIR => 1,
                                   CLEANUP => 1),
        pid => undef,
        port => undef,
    }, $class;

    push @Mocks, $self;

    return $self;
}


sub port { $_[0]{port} }
sub pid { $_[0]{pid} }
sub state_dir { $_[0]{dir} }


sub start {
    my ($self) = @_;

    return $self if defined $self->{pid};

    my @args = ('--port', 0, '--port-file', "$self->{dir}/port",
                '--state', "$self->{dir}/state", '--quiet');

    for my $k (sort keys %{ $self->{opt} }) {
        (my $flag = $k) =~ tr/_/-/;
        push @args, "--$flag", $self->{opt}{$k};
    }

    unlink "$self->{dir}/port";

    my $pid = fork;
    die "RecsysEmbedMock: fork failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$self->{dir}/mock.log";
        { exec $^X, $Script, @args; }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    for (1 .. 200) {
        if (open my $fh, '<', "$self->{dir}/port") {
            chomp($self->{port} = <$fh>);
            return $self;
        }

        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $self->{pid} = undef;
            die "RecsysEmbedMock: the mock exited at once, see "
                . "$self->{dir}/mock.log\n";
        }

        Time::HiRes::sleep(0.025);
    }

    $self->stop;
    die "RecsysEmbedMock: the mock did not start listening\n";
}


sub stop {
    my ($self) = @_;
    my $pid = $self->{pid};

    return unless defined $pid;

    kill 'TERM', $pid;

    for (1 .. 250) {
        last if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.02);
    }

    kill 'KILL', $pid if kill 0, $pid;
    waitpid($pid, 0);
    $self->{pid} = undef;
}


sub url {
    my ($self, %q) = @_;
    my $url = "http://127.0.0.1:$self->{port}/v1/embeddings";
    my $query = join '&', map { "$_=$q{$_}" } sort keys %q;

    return $query eq '' ? $url : "$url?$query";
}


# one request over a fresh connection; returns (status, body)
sub http {
    my ($self, $method, $path, $body) = @_;
    $body //= '';

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp')
        or die "RecsysEmbedMock: cannot connect: $!\n";

    print $s "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Connection: close\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body";

    my $resp = do { local $/; <$s> };
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};

    return ($status, $content);
}


sub stats {
    my ($self) = @_;
    my ($status, $body) = $self->http('GET', '/stats');
    die "RecsysEmbedMock: /stats answered $status\n" unless $status == 200;
    return JSON::PP::decode_json($body);
}


sub control {
    my ($self, %c) = @_;
    my ($status, $body) = $self->http('POST', '/control',
                                      JSON::PP::encode_json(\%c));
    die "RecsysEmbedMock: /control answered $status: $body\n"
        unless $status == 200;
    return JSON::PP::decode_json($body);
}


sub reset {
    my ($self) = @_;
    my ($status) = $self->http('POST', '/reset');
    die "RecsysEmbedMock: /reset answered $status\n" unless $status == 200;
}


sub last {
    my ($self) = @_;
    my ($status, $body) = $self->http('GET', '/last');
    die "RecsysEmbedMock: /last answered $status\n" unless $status == 200;
    return JSON::PP::decode_json($body);
}


sub log {
    my ($self) = @_;
    my @lines;

    open my $fh, '<', "$self->{dir}/state/texts.log" or return [];
    while (<$fh>) {
        chomp;
        push @lines, [split /\t/, $_, 2];
    }

    return \@lines;
}


END {
    local ($?, $!, $@);
    for my $m (@Mocks) {
        eval { $m->stop };
    }
}

1;
