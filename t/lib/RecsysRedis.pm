package RecsysRedis;

# A real redis-server for the test suites: started on a spare port of
# 127.0.0.1, stopped, killed, paused, queried with redis-cli.  Plain Perl,
# independent of the Test::Nginx runner in use (ours or upstream's).
#
#   my $redis = RecsysRedis->new(password => 'secret');   # not started
#   RecsysRedis->new(args => ['--replicaof', '127.0.0.1', $port]);
#   $redis->start;                 # waits until it answers PING
#   $redis->port;
#   $redis->cli('ZSCORE', $key, $member);   # one line, or a list of lines
#   $redis->calls('zrevrange');    # answered since start or CONFIG RESETSTAT
#   $redis->pause(2000);           # CLIENT PAUSE 2000 (all commands)
#   $redis->kill;                  # SIGKILL: connections drop at once
#   $redis->stop;                  # SIGTERM, then SIGKILL after 5 s
#
# REDIS_SERVER and REDIS_CLI name the binaries (defaults: redis-server and
# redis-cli from PATH, then /usr/bin).  Every server stops when the suite
# exits.

use strict;
use warnings;

use IO::Socket::INET ();
use File::Temp ();
use POSIX ();
use Time::HiRes ();

my @Servers;


sub spare_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1, Proto => 'tcp')
        or die "RecsysRedis: cannot find a spare port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}


sub find_binary {
    my ($env, $name) = @_;

    return $ENV{$env} if $ENV{$env};

    for my $dir (split(/:/, $ENV{PATH} || ''), '/usr/bin', '/usr/local/bin') {
        return "$dir/$name" if -x "$dir/$name";
    }

    die "RecsysRedis: $name not found (apt-get install redis-server, "
        . "or set $env)\n";
}


sub new {
    my ($class, %opt) = @_;

    my $self = bless {
        port     => $opt{port} || spare_port(),
        password => $opt{password},
        args     => $opt{args} || [],
        server   => find_binary('REDIS_SERVER', 'redis-server'),
        cli      => find_binary('REDIS_CLI', 'redis-cli'),
        dir      => File::Temp::tempdir('recsys-redis-XXXXXX', TMPDIR => 1,
                                        CLEANUP => 1),
        pid      => undef,
    }, $class;

    push @Servers, $self;

    return $self;
}


sub port { $_[0]{port} }
sub pid { $_[0]{pid} }
sub running { defined $_[0]{pid} }


sub start {
    my ($self) = @_;

    return $self if $self->running;

    my @args = ('--port', $self->{port}, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--daemonize', 'no',
                '--dir', $self->{dir}, '--logfile', "$self->{dir}/redis.log");

    push @args, '--requirepass', $self->{password} if defined $self->{password};
    push @args, @{ $self->{args} };

    my $pid = fork;
    die "RecsysRedis: fork failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec $self->{server}, @args; }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    # answering PING, not just listening: it may still be loading
    for (1 .. 100) {
        my $pong = eval { $self->quiet_cli('PING') };
        return $self if defined $pong && $pong eq 'PONG';

        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $self->{pid} = undef;
            die "RecsysRedis: redis-server exited at once, see "
                . "$self->{dir}/redis.log\n";
        }

        Time::HiRes::sleep(0.05);
    }

    $self->kill;
    die "RecsysRedis: redis-server on port $self->{port} did not answer\n";
}


sub signal_and_wait {
    my ($self, $sig, $timeout) = @_;

    my $pid = $self->{pid};
    return unless defined $pid;

    kill $sig, $pid;

    my $deadline = Time::HiRes::time() + $timeout;

    while (Time::HiRes::time() < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) != 0) {
            $self->{pid} = undef;
            return 1;
        }
        Time::HiRes::sleep(0.02);
    }

    return 0;
}


sub stop {
    my ($self) = @_;

    return unless $self->running;

    kill 'CONT', $self->{pid};
    $self->signal_and_wait('TERM', 5) or $self->kill;
}


sub kill {
    my ($self) = @_;

    return unless $self->running;

    $self->signal_and_wait('KILL', 5)
        or die "RecsysRedis: redis-server $self->{pid} survived SIGKILL\n";
}


# CLIENT PAUSE: every client's commands wait, connections stay open
sub pause {
    my ($self, $ms) = @_;
    my $ok = $self->cli('CLIENT', 'PAUSE', $ms);
    die "RecsysRedis: CLIENT PAUSE failed: $ok\n" unless $ok eq 'OK';
}


# redis-cli, without a shell; the password goes through the environment
sub cli {
    my ($self, @args) = @_;

    local $ENV{REDISCLI_AUTH} = $self->{password}
        if defined $self->{password};

    my @cmd = ($self->{cli}, '-h', '127.0.0.1', '-p', $self->{port}, @args);

    open(my $fh, '-|', @cmd) or die "RecsysRedis: cannot run @cmd: $!\n";
    my @out = <$fh>;
    close $fh;

    chomp @out;

    return wantarray ? @out : join("\n", @out);
}


# how many times the server ran a command (INFO commandstats)
sub calls {
    my ($self, $command) = @_;
    my ($line) = grep { /^cmdstat_\Q$command\E:/ }
                 $self->cli('INFO', 'commandstats');
    return $line && $line =~ /calls=(\d+)/ ? $1 : 0;
}


# the same, without redis-cli's complaints on stderr
sub quiet_cli {
    my ($self, @args) = @_;

    open(my $saved, '>&', \*STDERR) or die "RecsysRedis: dup: $!\n";
    open(STDERR, '>', '/dev/null') or die "RecsysRedis: /dev/null: $!\n";

    my @out = eval { $self->cli(@args) };
    my $err = $@;

    open(STDERR, '>&', $saved) or die "RecsysRedis: dup: $!\n";
    die $err if $err;

    return wantarray ? @out : join("\n", @out);
}


END {
    local ($?, $!, $@);
    for my $s (@Servers) {
        eval { $s->stop };
    }
}

1;
