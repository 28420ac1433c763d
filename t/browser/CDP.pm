package CDP;

# Headless Chromium driven over the Chrome DevTools Protocol, with nothing
# but core Perl: --remote-debugging-pipe makes Chromium read commands from
# its fd 3 and write answers and events to its fd 4, as JSON messages
# ended by a NUL byte, so there is no port, no WebSocket and no client
# library to install.
#
#   my $b = CDP->launch(chromium => '/usr/bin/chromium', log => $file);
#   my $s = $b->attach_page;                       # a new tab's session id
#   $b->call('Page.navigate', { url => $url }, $s);
#   my $ev = $b->wait_event('Page.loadEventFired', $s, 30);
#   $b->quit;

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Handle;
use IO::Select;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $json = JSON::PP->new->utf8->canonical;

# Flags for a browser that stays off the network: no background services,
# no updates, no QUIC, and every host name but 127.0.0.1 unresolvable, so
# a page's external images and links fail at once instead of trying the
# network (this machine's network is closed).  --no-sandbox because the
# suites run as root, --disable-dev-shm-usage for small /dev/shm in CI.
our @FLAGS = qw(
    --headless
    --no-sandbox
    --disable-gpu
    --disable-quic
    --no-first-run
    --no-default-browser-check
    --disable-background-networking
    --disable-component-update
    --disable-sync
    --disable-default-apps
    --disable-extensions
    --disable-breakpad
    --disable-client-side-phishing-detection
    --disable-domain-reliability
    --disable-dev-shm-usage
    --metrics-recording-only
    --mute-audio
    --hide-scrollbars
    --password-store=basic
);
push @FLAGS,
    '--disable-features=Translate,MediaRouter,OptimizationHints,'
        . 'AutofillServerCommunication',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1';

my @launched;    # for the END block

sub launch {
    my ($class, %opt) = @_;
    my $bin = $opt{chromium} or die "no chromium";
    my $profile = tempdir(CLEANUP => 1);

    # a browser that died makes writes to the pipe fail with EPIPE (and
    # die with a message) rather than kill this process with SIGPIPE
    $SIG{PIPE} = 'IGNORE';

    pipe(my $cmd_r, my $cmd_w) or die "pipe: $!";    # to Chromium's fd 3
    pipe(my $evt_r, my $evt_w) or die "pipe: $!";    # from Chromium's fd 4

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # its own process group, so that quit() can reach its helpers
        setpgrp 0, 0;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $opt{log} || '/dev/null';
        open STDERR, '>&', \*STDOUT;
        # park the ends above 4 first: dup2 onto 3 or 4 must not close the
        # other one.  Perl's own descriptors are closed on exec, the dup2'd
        # copies are not.
        my $r = POSIX::dup(fileno $cmd_r);
        my $w = POSIX::dup(fileno $evt_w);
        ($r, $w) = (POSIX::dup($r), POSIX::dup($w)) while $r < 5 || $w < 5;
        POSIX::dup2($r, 3) // POSIX::_exit(126);
        POSIX::dup2($w, 4) // POSIX::_exit(126);
        { no warnings 'exec';
          exec $bin, @FLAGS, "--user-data-dir=$profile",
               '--remote-debugging-pipe', 'about:blank'; }
        print STDERR "exec $bin: $!\n";
        POSIX::_exit(127);    # not exit: no END block of the parent's
    }
    close $cmd_r;
    close $evt_w;
    $cmd_w->autoflush(1);

    my $self = bless {
        pid => $pid, in => $cmd_w, out => $evt_r, buf => '', id => 0,
        events => [], profile => $profile,
        timeout => $opt{timeout} || 30,
    }, $class;
    push @launched, $self;
    return $self;
}

sub send_msg {
    my ($self, $method, $params, $session) = @_;
    my $msg = { id => ++$self->{id}, method => $method,
                params => $params || {} };
    $msg->{sessionId} = $session if defined $session;
    my $data = $json->encode($msg) . "\0";
    while (length $data) {
        my $n = syswrite $self->{in}, $data;
        die "cannot write to chromium: $!" unless defined $n;
        substr $data, 0, $n, '';
    }
    return $msg->{id};
}

# the next message from Chromium, or undef when $deadline passes
sub read_msg {
    my ($self, $deadline) = @_;
    my $sel = IO::Select->new($self->{out});
    while (1) {
        my $end = index $self->{buf}, "\0";
        if ($end >= 0) {
            my $raw = substr $self->{buf}, 0, $end + 1, '';
            chop $raw;
            return $json->decode($raw);
        }
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $self->{out}, $self->{buf}, 1 << 20,
                        length $self->{buf};
        die "cannot read from chromium: $!" unless defined $n;
        die "chromium closed the DevTools pipe (see its log)" unless $n;
    }
}

# a command and its result; events that arrive meanwhile are queued
sub call {
    my ($self, $method, $params, $session, $timeout) = @_;
    my $id = $self->send_msg($method, $params, $session);
    my $deadline = time + ($timeout || $self->{timeout});
    while (defined(my $msg = $self->read_msg($deadline))) {
        if (defined $msg->{id} && $msg->{id} == $id) {
            die "$method: $msg->{error}{message}\n" if $msg->{error};
            return $msg->{result};
        }
        push @{ $self->{events} }, $msg if defined $msg->{method};
    }
    die "$method: no answer within " . ($timeout || $self->{timeout}) . " s\n";
}

# Waits for event $method of $session; returns its params, or undef after
# $timeout seconds.  Every event read on the way is handed to $self->{on_event}
# (if set) and queued.
sub wait_event {
    my ($self, $method, $session, $timeout) = @_;
    my $deadline = time + ($timeout || $self->{timeout});
    my $match = sub {
        my ($ev) = @_;
        return $ev->{method} eq $method
            && (!defined $session || ($ev->{sessionId} // '') eq $session);
    };
    for my $i (0 .. $#{ $self->{events} }) {
        if ($match->($self->{events}[$i])) {
            return (splice @{ $self->{events} }, $i, 1)[0]{params};
        }
    }
    while (defined(my $msg = $self->read_msg($deadline))) {
        next unless defined $msg->{method};
        $self->{on_event}->($msg) if $self->{on_event};
        return $msg->{params} if $match->($msg);
        push @{ $self->{events} }, $msg;
    }
    return undef;
}

# events of $method received so far, taken from the queue
sub take_events {
    my ($self, $method) = @_;
    my @all = @{ $self->{events} };
    $self->{events} = [grep { $_->{method} ne $method } @all];
    return grep { $_->{method} eq $method } @all;
}

# a new tab, attached in "flat" mode: its commands carry its session id
sub attach_page {
    my ($self) = @_;
    my $t = $self->call('Target.createTarget', { url => 'about:blank' });
    my $a = $self->call('Target.attachToTarget',
                        { targetId => $t->{targetId}, flatten => JSON::PP::true });
    return $a->{sessionId};
}

# Browser.close, then TERM and KILL to the process group if it lingers
sub quit {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    eval { $self->send_msg('Browser.close') };
    for my $sig (undef, 'TERM', 'KILL') {
        kill $sig, -$pid if $sig;
        my $deadline = time + 5;
        while (time < $deadline) {
            return if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }
    }
}

# a test that dies half-way (or times out) leaves no browser behind
END {
    my $rc = $?;
    $_->quit for @launched;
    $? = $rc;
}

1;
