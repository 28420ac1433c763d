package Examples;

# Runs the nginx.conf examples of lua-free-examples/ from a prefix laid out
# as lua-free-examples/README.md describes, for t/011-examples.t and
# t/browser/run:
#
#   PREFIX/modules/ngx_http_recsys_module.so   -> the built module
#   PREFIX/index                               -> an index directory
#   PREFIX/html                                -> the example's html/, if any
#   PREFIX/logs/, PREFIX/tmp/
#
# Only core Perl modules.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our $REPO = abs_path(dirname(__FILE__) . '/../..');
our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $MODULE = (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '')[0]
    || "$REPO/build/ngx_http_recsys_module.so";
our $INDEX = $ENV{TEST_NGINX_INDEX} || "$REPO/build/t-index";

my @running;    # what start() started, for the END block

# the examples, each a directory with nginx.conf and README.md
sub names {
    return map { m{/([^/]+)/nginx\.conf$} ? $1 : () }
           sort glob "$REPO/lua-free-examples/*/nginx.conf";
}

sub conf { "$REPO/lua-free-examples/$_[0]/nginx.conf" }

# Lays out $prefix for example $name.  The directory must be searchable by
# nginx's workers (nobody, when the master runs as root).
sub make_prefix {
    my ($name, $prefix) = @_;

    make_path("$prefix/modules", "$prefix/logs", "$prefix/tmp");
    chmod 0755, $prefix;

    my %links = (
        "$prefix/modules/ngx_http_recsys_module.so" => $MODULE,
        "$prefix/index" => $INDEX,
    );
    my $html = "$REPO/lua-free-examples/$name/html";
    $links{"$prefix/html"} = $html if -d $html;

    for my $link (sort keys %links) {
        unlink $link;
        symlink $links{$link}, $link or die "symlink $link: $!";
    }
    return $prefix;
}

# A loopback port nobody listens on now (the kernel's pick, so never the
# fixed ports other suites use).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# nginx -t; returns (exit code, what nginx printed)
sub test_conf {
    my ($prefix, $conf) = @_;
    my $out = `'$NGINX' -t -p '$prefix/' -c '$conf' 2>&1`;
    return ($? >> 8, $out);
}

# Starts example $name in the foreground from $prefix, its 127.0.0.1:8080
# and :8081 listeners moved to free ports (a copy of nginx.conf in the
# prefix).  Options: ports => { 6379 => 41234, ... } moves the services
# the example reaches on 127.0.0.1 (Redis, a model) to where a suite
# started them; edit => sub { $_[0] =~ s/...// } changes the copy further.
# Returns { pid, port, port2, prefix } once nginx answers.
sub start {
    my ($name, $prefix, %opt) = @_;

    open my $in, '<', conf($name) or die "$name: $!";
    my $text = do { local $/; <$in> };
    close $in;

    return start_conf($prefix, $text, %opt);
}

# The same for the text of an nginx.conf of the same layout, from a suite.
sub start_conf {
    my ($prefix, $text, %opt) = @_;

    my %port = (8080 => free_port(), 8081 => free_port(),
                %{ $opt{ports} || {} });
    $text =~ s/\b127\.0\.0\.1:(\d+)\b/
               '127.0.0.1:' . ($port{$1} || $1)/ge;
    $opt{edit}->($text) if $opt{edit};

    my $conf = "$prefix/nginx.conf";
    open my $out, '>', $conf or die "$conf: $!";
    print $out $text;
    close $out;

    # As root nginx runs its workers as nobody, who may not be able to read
    # a checkout under a private home directory; the suites run them as
    # root, like the project's Test::Nginx runner does.
    my $globals = 'daemon off;' . ($> == 0 ? ' user root;' : '');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # its own process group, so that stop() can reach the workers too
        setpgrp 0, 0;
        open STDOUT, '>>', "$prefix/logs/stdout.log";
        open STDERR, '>>', "$prefix/logs/stderr.log";
        { no warnings 'exec';
          exec $NGINX, '-p', "$prefix/", '-c', $conf, '-g', $globals; }
        print STDERR "exec $NGINX: $!\n";
        POSIX::_exit(127);    # not exit: no END block of the parent's
    }

    my $srv = { pid => $pid, port => $port{8080}, port2 => $port{8081},
                prefix => $prefix };
    push @running, $srv;
    my $deadline = time + 15;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            die "nginx exited at start:\n" . slurp("$prefix/logs/stderr.log")
                . slurp("$prefix/logs/error.log");
        }
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $srv->{port});
        if ($c) {
            close $c;
            return $srv;
        }
        sleep 0.05;
    }
    stop($srv);
    die "nginx did not listen on port $srv->{port} within 15 s";
}

# TERM (nginx's fast shutdown) to the master we started; after 10 s KILL
# to its process group, the master and its workers
sub stop {
    my ($srv) = @_;
    return unless $srv && $srv->{pid};
    my $pid = delete $srv->{pid};
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', -$pid;
    waitpid $pid, 0;
}

# a test that dies half-way leaves no nginx behind
END {
    my $rc = $?;
    stop($_) for @running;
    $? = $rc;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

1;
