package RecsysMock;

# The mock OpenAI-compatible server of t/mock-llm.pl for the test suites:
# started on a spare port of 127.0.0.1, stopped, and asked what it was
# sent.  Plain Perl, independent of the Test::Nginx runner in use (ours or
# upstream's).  The markers that choose its answers are listed at the top
# of t/mock-llm.pl.
#
#   my $llm = RecsysMock->new(delay => 2);   # not started; delay, slow,
#   $llm->start;                             # huge as the script's options
#   $llm->port;
#   $ENV{TEST_NGINX_LLM_PORT} = $llm->port;  # for proxy_pass in a config
#   $llm->count;                   # chat requests since the last reset
#   $llm->count('slow');           # of them, those with "mock:slow"
#   $llm->connections;             # connections that carried them
#   $llm->requests;                # each: {marker, conn, nth,
#                                  #   authorization, request}
#   $llm->last_request;            # the last of them, or undef
#   $llm->reset;                   # forget them
#   $llm->stop;                    # SIGTERM to it and its connections
#
# A block can also count through nginx, with only standard sections:
# proxy_pass a location to http://127.0.0.1:$TEST_NGINX_LLM_PORT/_stats
# and match the body.  Every mock stops when the suite exits.

use strict;
use warnings;

use Cwd ();
use Fcntl qw(:flock);
use File::Basename ();
use File::Spec ();
use File::Temp ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my @Servers;

my $Script = File::Spec->catfile(
    File::Basename::dirname(Cwd::abs_path(__FILE__)), '..', 'mock-llm.pl');


sub spare_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1,
                                  Proto => 'tcp')
        or die "RecsysMock: cannot find a spare port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}


sub new {
    my ($class, %opt) = @_;

    my $dir = File::Temp::tempdir('recsys-mock-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $self = bless {
        port  => $opt{port} || spare_port(),
        opt   => { map { $_ => $opt{$_} }
                   grep { defined $opt{$_} } qw(delay slow huge) },
        dir   => $dir,
        log   => "$dir/requests.log",
        pid   => undef,
    }, $class;

    push @Servers, $self;

    return $self;
}


sub port { $_[0]{port} }
sub url { "http://127.0.0.1:$_[0]{port}" }
sub log_file { $_[0]{log} }
sub running { defined $_[0]{pid} }


sub start {
    my ($self) = @_;

    return $self if $self->running;

    my @args = ($^X, $Script, '--port', $self->{port}, '--log', $self->{log},
                map { ("--$_", $self->{opt}{$_}) } sort keys %{ $self->{opt} });

    my $pid = fork;
    die "RecsysMock: fork failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        # its own process group: stop() reaches the connections' children
        POSIX::setpgid(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$self->{dir}/mock.err";
        { exec @args; }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    for (1 .. 200) {
        return $self if $self->healthy;

        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $self->{pid} = undef;
            die "RecsysMock: $Script exited at once, see "
                . "$self->{dir}/mock.err\n";
        }

        Time::HiRes::sleep(0.025);
    }

    $self->stop;
    die "RecsysMock: the mock on port $self->{port} did not answer\n";
}


sub healthy {
    my ($self) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp',
                                  Timeout => 1)
        or return 0;

    print $s "GET /health HTTP/1.0\r\n\r\n";
    local $/;
    my $res = <$s>;
    close $s;

    return defined $res && $res =~ m{^HTTP/1\.1 200 .*\r\n\r\nok\n$}s;
}


sub stop {
    my ($self) = @_;

    my $pid = $self->{pid};
    return unless defined $pid;

    kill 'TERM', -$pid;

    my $deadline = Time::HiRes::time() + 5;

    while (Time::HiRes::time() < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) != 0) {
            $self->{pid} = undef;
            return;
        }
        Time::HiRes::sleep(0.02);
    }

    kill 'KILL', -$pid;
    waitpid($pid, 0);
    $self->{pid} = undef;
}


sub requests {
    my ($self) = @_;

    open(my $fh, '<', $self->{log}) or return ();
    flock($fh, LOCK_SH);
    my $json = JSON::PP->new->utf8;
    my @r = map { $json->decode($_) } grep { /\S/ } <$fh>;
    close $fh;

    return @r;
}


sub last_request {
    my ($self) = @_;
    my @r = $self->requests;
    return $r[-1];
}


sub count {
    my ($self, $marker) = @_;
    return scalar grep { !defined $marker || $_->{marker} eq $marker }
                  $self->requests;
}


sub connections {
    my ($self) = @_;
    my %c = map { $_->{conn} => 1 } $self->requests;
    return scalar keys %c;
}


sub reset {
    my ($self) = @_;

    # as the mock's own /_reset: under the lock its children append with
    open(my $fh, '>>', $self->{log}) or die "RecsysMock: $self->{log}: $!\n";
    flock($fh, LOCK_EX);
    truncate($fh, 0);
    close $fh;
}


END {
    local ($?, $!, $@);
    for my $s (@Servers) {
        eval { $s->stop };
    }
}

1;
