package Test::Nginx::Util;

# Server-side half of the project's Test::Nginx-compatible runner: global
# settings, servroot/nginx.conf generation, starting/reloading/stopping nginx
# and the per-block driver (run_tests/run_test).  The HTTP client and the
# response/error-log assertions live in Test::Nginx::Socket.
#
# Behaviour follows openresty/test-nginx (Test::Nginx::Util) for the subset
# documented in t/README.md; the code is an independent implementation that
# only needs core Perl plus Debian's libtest-base-perl.

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use File::Find ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use File::Temp qw(tempfile);
use IO::Socket::INET ();
use List::Util qw(max shuffle);
use POSIX qw(SIGQUIT SIGKILL SIGHUP SIGUSR1 WNOHANG);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests bail_out expand_env_in_text parse_time parse_headers trim
    error_log_data is_running sleep_time verbose
    env_to_nginx repeat_each worker_connections workers master_on master_off
    master_process_enabled log_level no_shuffle no_root_location
    no_long_string check_accum_error_log use_hup no_nginx_manager
    server_name server_addr server_port server_port_for_client
    html_dir server_root timeout config_preamble add_block_preprocessor
    add_cleanup_handler add_test_cleanup_handler
    $ServerAddr $ServerName $ServerPort $ServerPortForClient $NoLongString
    $RepeatEach $NginxVersion $PidFile $ServRoot $ConfFile
    $RunTestHelper $CheckErrorLog
);
our @EXPORT_OK = qw(sec parse_header_list);

# ---------------------------------------------------------------------------
# Settings (environment first, then the exported setters)
# ---------------------------------------------------------------------------

our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $ServerPort        = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Workers           = 1;
our $WorkerConnections = 64;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled     = 'on';
our $RepeatEach        = 1;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation    = 0;
our $NoLongString;
our $NoNginxManager    = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $UseHup            = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND};
our $Randomize         = $ENV{TEST_NGINX_RANDOMIZE};
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep    = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $EventType         = $ENV{TEST_NGINX_EVENT_TYPE};
our $WorkerUser        = $ENV{TEST_NGINX_WORKER_USER};
our $ConfigPreamble    = '';

our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers);

# Hooks installed by Test::Nginx::Socket.
our ($RunTestHelper, $CheckErrorLog);

# Upstream sections this runner does not implement.  Blocks using them bail
# out instead of being silently mis-run (which would also change the number
# of tests).
our @UnsupportedSections = qw(
    access_log no_access_log stap stap_out stap_out_like stap_out_unlike
    udp_listen udp_reply udp_reply_delay udp_query tcp_listen tcp_reply
    tcp_reply_delay tcp_query tcp_query_len tcp_no_close tcp_shutdown
    tcp_shutdown_delay tcp_query_auto_timeout curl curl_protocol
    curl_options curl_error http2 http3 skip_nginx2 skip_openssl skip_slave
    todo_nginx shutdown_error_log no_shutdown_error_log reload_fails charset
    request_eval response_body_eval write_resp_body_file
);

# Runtime state.
our ($NginxVersion, $NginxRawVersion, $NginxV);
our ($PrevConfig, $ConfigVersion, $ChildPid, $RandPorts);
our $FirstTime     = 1;
our $ErrLogFilePos = 0;
our @PendingStderrLines;    # nginx stderr from a must_die start, see error_log_data()
my  $MainPid = $$;

if ($Randomize) {
    $ServerPort = $ServerPortForClient = free_port();
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $CacheDir   = "$ServRoot/cache";

# Getter/setter helpers; prototypes match upstream so that test scripts parse
# identically under both runners.
sub repeat_each (@)           { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)               { $Workers = shift if @_; $Workers }
sub worker_connections (@)    { $WorkerConnections = shift if @_; $WorkerConnections }
sub log_level (@)             { $LogLevel = shift if @_; $LogLevel }
sub server_name (@)           { $ServerName = shift if @_; $ServerName }
sub server_addr (@)           { $ServerAddr = shift if @_; $ServerAddr }
sub server_port (@)           { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_; $ServerPortForClient }
sub timeout (@)               { $Timeout = shift if @_; $Timeout }
sub master_on ()              { $MasterProcessEnabled = 'on' }
sub master_off ()             { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    $MasterProcessEnabled = shift() ? 'on' : 'off' if @_;
    $MasterProcessEnabled;
}
sub no_shuffle ()             { $NoShuffle = 1 }
sub no_root_location ()       { $NoRootLocation = 1 }
sub no_long_string ()         { $NoLongString = 1 }
sub check_accum_error_log ()  { $CheckAccumErrLog = 1 }
sub use_hup ()                { $UseHup = 1 }
sub no_nginx_manager ()       { $NoNginxManager = 1 }
sub html_dir ()               { $HtmlDir }
sub server_root ()            { $ServRoot }
sub config_preamble ($)       { $ConfigPreamble = shift }
sub sleep_time                { $TestNginxSleep }
sub verbose                   { $Verbose }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)   { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

# Value of a block section in scalar context (undef when absent).  Reading the
# hash directly avoids Test::Base's AUTOLOAD returning an empty list.
sub sec {
    my ($block, $name) = @_;
    my $v = $block->{$name};
    return ref $v eq 'ARRAY' ? $v->[0] : undef;
}

# "500ms" -> 0.5, "3s" -> 3, "2" -> 2
sub parse_time ($) {
    my $tm = shift;
    return undef unless defined $tm;
    if    ($tm =~ s/([^_a-zA-Z])ms$/$1/) { $tm /= 1000 }
    elsif ($tm =~ s/([^_a-zA-Z])s$/$1/)  { }
    return $tm;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

# "Name: value" lines -> { Name => value }; "!Name" -> { Name => undef }.
sub parse_headers ($) {
    my %headers = map { @$_ } parse_header_list(shift);
    return \%headers;
}

# Same, as an ordered list of [name, value] pairs (a repeated name keeps
# its last value, as with the hash).
sub parse_header_list {
    my ($s) = @_;
    my (@list, %pos);
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        my ($key, $val);
        if ($line =~ s/^!\s*//) {
            $key = $line;
        } else {
            ($key, $val) = split /\s*:\s*/, $line, 2;
            $key //= '';
        }
        if (defined $pos{$key}) {
            $list[$pos{$key}][1] = $val;
        } else {
            $pos{$key} = @list;
            push @list, [$key, $val];
        }
    }
    return @list;
}

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1)
        or die "cannot allocate a free TCP port: $!\n";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

# Replace $TEST_NGINX_FOO with $ENV{TEST_NGINX_FOO}; $TEST_NGINX_RAND_PORT_N
# gets a free port that stays the same for the whole block.
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} //= free_port();
        } else {
            defined $ENV{$var}
                or bail_out("$name - No environment $var defined.\n");
            $ENV{$var};
        }
    }ge;
    return $text;
}

# A process counts as gone once it is a zombie: a daemonized nginx is
# re-parented to PID 1, which may never reap it in a container.
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid;
    waitpid($pid, WNOHANG) if defined $ChildPid && $pid == $ChildPid;
    return 0 unless kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) Z /s;
    }
    return 1;
}

# PID of the nginx recorded in our pid file, if that process still exists
# and still is an nginx (a stale pid file must never make us signal an
# unrelated process that happens to reuse the PID).
sub read_pid_file {
    open my $fh, '<', $PidFile or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef unless defined $pid && $pid =~ /^\s*(\d+)/;
    $pid = $1;
    if (open my $cmd, '<', "/proc/$pid/cmdline") {
        my $cmdline = do { local $/; <$cmd> } // '';
        return undef unless $cmdline =~ /nginx|valgrind|memcheck/;
    }
    return $pid;
}

# QUIT the process, give it timeout() seconds, then KILL it.
sub kill_process {
    my ($pid, $name) = @_;
    return unless is_running($pid);
    warn "sending QUIT signal to $pid\n" if $Verbose;
    kill SIGQUIT, $pid;
    # valgrind's leak check runs after nginx exits: give it more time
    my $left = defined $ChildPid && $pid == $ChildPid ? max(timeout(), 10) : timeout();
    while ($left > 0 && is_running($pid)) {
        sleep 0.02;
        $left -= 0.02;
    }
    if (is_running($pid)) {
        warn "$name - timeout when waiting for the process $pid to exit; killing it\n";
        kill SIGKILL, $pid;
        sleep 0.05;
    }
    waitpid($pid, 0) if defined $ChildPid && $pid == $ChildPid;
}

sub stop_nginx {
    my ($name) = @_;
    my $pid = read_pid_file();
    kill_process($pid, $name) if $pid;
    # $ChildPid stays set: send_request() uses it to notice that nginx is gone
    kill_process($ChildPid, $name) if defined $ChildPid;
    unlink $PidFile if -f $PidFile;
}

sub cleanup {
    $_->() for @CleanupHandlers;
}

sub get_nginx_version {
    $NginxV = `$NginxBinary -V 2>&1`;
    if (!defined $NginxV || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH ($NginxBinary): "
                 . ($NginxV // $!));
    }
    if ($NginxV =~ m{\w+/(\d+)\.(\d+)\.(\d+)}) {
        $NginxRawVersion = "$1.$2.$3";
        return canon_version($1, $2, $3);
    }
    bail_out("Failed to parse the output of \"nginx -V\": $NginxV\n");
}

sub canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

# ---------------------------------------------------------------------------
# Server root and configuration
# ---------------------------------------------------------------------------

sub setup_server_root {
    my ($first_time) = @_;

    remove_tree($ConfDir, glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));

    if ($UseHup && !$first_time) {
        # nginx is still running: keep its pid file and directories, drop
        # everything else (it reopens its logs on USR1).
        for my $dir ($LogDir, $HtmlDir, $CacheDir) {
            next unless -d $dir;
            File::Find::find({ no_chdir => 1, wanted => sub {
                unlink $_ if -f $_ && $_ ne $PidFile;
            } }, $dir);
        }
    } else {
        remove_tree($CacheDir, $HtmlDir, $LogDir);
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $dir;
        make_path($dir) or bail_out("Failed to do mkdir $dir: $!\n");
    }

    write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub write_file {
    my ($path, $body) = @_;
    open my $out, '>', $path or bail_out("Can't open $path for writing: $!\n");
    binmode $out;
    print $out $body;
    close $out;
}

# --- user_files: ">>> name [touch-date]" headers followed by the content.
sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $name  = $block->name;
    my $files = sec($block, 'user_files');
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        write_file($path, expand_env_in_text($body // '', $name, $rand_ports));
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to touch -t '$date' $path");
        }
    }
}

sub write_config_file {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    master_on() if $UseHup;    # reloading needs a master process

    my $expand = sub { expand_env_in_text(sec($block, $_[0]) // '', $name, $rand_ports) };
    my $http_config      = $expand->('http_config');
    my $main_config      = $expand->('main_config');
    my $post_main_config = $expand->('post_main_config');
    my $err_log_file = expand_env_in_text(sec($block, 'error_log_file') || $ErrLogFile,
                                          $name, $rand_ports);
    my $server_name  = sec($block, 'server_name') // $ServerName;

    if ($LoadModules) {
        my @mods = map { "load_module $_;" } grep { length } split /\s+/, $LoadModules;
        $main_config = join "\n", @mods, $main_config;
    }

    # Debian's nginx has compiled-in temp paths under /var/lib/nginx; keep
    # everything inside the server root so tests work as any user.
    my @temp_paths;
    for my $t (qw(client_body proxy fastcgi scgi uwsgi)) {
        next if $http_config =~ /\b${t}_temp_path\b/;
        next if $t =~ /^(?:fastcgi|scgi|uwsgi)$/
             && ($NginxV // '') =~ /--without-http_${t}_module/;
        push @temp_paths, "${t}_temp_path $ServRoot/${t}_temp;";
    }
    my $temp_paths = join "\n    ", @temp_paths;

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
        qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx;

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    # Extra virtual server used to detect when a HUP reload has taken effect.
    my $hup_server = !$UseHup ? '' : <<"_EOC_";
    server {
        listen          $ServerAddr:$ServerPort;
        server_name     'Test-Nginx';
        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_

    my $events_use = $EventType ? "    use $EventType;\n" : '';
    my $user = defined $WorkerUser ? "user $WorkerUser;\n"
             : $> == 0             ? "user root;\n"
             :                       '';
    $config //= '';

    write_file($ConfFile, <<"_EOC_");
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
$env
$main_config

http {
    access_log $AccLogFile;
    $temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
$hup_server}

$post_main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
$events_use}
$user
_EOC_
}

# ---------------------------------------------------------------------------
# Running nginx
# ---------------------------------------------------------------------------

sub nginx_command {
    my @cmd = ($NginxBinary, '-e', $ErrLogFile, '-p', "$ServRoot/", '-c', $ConfFile);
    if ($UseValgrind) {
        my @opts = $UseValgrind =~ /^\d+$/
            ? (qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                  --show-possibly-lost=no --gen-suppressions=all),
               (-f 'valgrind.suppress' ? '--suppressions=valgrind.suppress' : ()))
            : split ' ', $UseValgrind;
        unshift @cmd, 'valgrind', '--num-callers=100', '-q', @opts;
    }
    return @cmd;
}

# Run nginx in the foreground of this call (daemon on: returns once nginx has
# daemonized or failed).  stderr goes to a temp file, not a pipe, because the
# daemon inherits the descriptor and would keep a pipe open forever.
# Returns ($wait_status, $stderr_text).
sub run_nginx {
    my ($block) = @_;
    my @cmd = nginx_command();
    warn "running: @cmd\n" if $Verbose;
    my ($errfh, $errfile) = tempfile('ngx-stderr-XXXXXX', TMPDIR => 1, UNLINK => 1);
    my $pid = fork // bail_out("fork() failed: $!");
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', $errfh;
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $status = $?;
    seek $errfh, 0, 0;
    my $stderr = do { local $/; <$errfh> } // '';
    close $errfh;
    unlink $errfile;
    $status = -1 if ($status >> 8) == 127 && $stderr eq '';
    print STDERR $stderr if length $stderr && !defined sec($block, 'suppress_stderr');
    return ($status, $stderr);
}

# valgrind mode: nginx runs with "daemon off" as our child in its own
# process group; wait until it accepts connections.
sub spawn_nginx {
    my ($name) = @_;
    my @cmd = nginx_command();
    warn "$name\n";    # labels valgrind reports, like upstream
    my $pid = fork // bail_out("fork() failed: $!");
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>', '/dev/null';
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    $ChildPid = $pid;
    my $deadline = time + 30;
    while (time < $deadline) {
        return 1 if IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                          PeerPort => $ServerPortForClient,
                                          Proto => 'tcp', Timeout => 1);
        last unless is_running($pid);
        sleep 0.1;
    }
    bail_out("$name - nginx under valgrind did not come up (see $ErrLogFile)");
}

sub start_nginx {
    my ($block) = @_;
    my $name = $block->name;

    if ($UseValgrind) {
        spawn_nginx($name);
        return;
    }

    my $waited = 0;
    while (1) {
        my ($status, $stderr) = run_nginx($block);
        last if $status == 0;
        # The previous instance may still hold the port for a moment; any
        # other failure is a broken test, so bail out at once.
        if ($stderr =~ /Address already in use/ && $waited < 10) {
            sleep 0.2;
            $waited += 0.2;
            next;
        }
        (my $why = $stderr) =~ s/\s*\n\s*/; /g;    # BAIL_OUT takes one line
        bail_out("$name - Cannot start nginx using command \""
                 . join(' ', nginx_command()) . "\" (status code $status): $why");
    }
    sleep $TestNginxSleep;
}

# HUP mode: ask the running master to reload and wait until the new
# configuration (tagged with $ConfigVersion) answers on /ver.
sub reload_nginx {
    my ($name, $pid) = @_;
    kill SIGUSR1, $pid;             # reopen the (freshly deleted) log files
    sleep $TestNginxSleep;
    kill SIGHUP, $pid;
    sleep $TestNginxSleep * 3;

    my ($ok, $deadline) = (0, time + 10);
    while (time < $deadline) {
        my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                         PeerPort => $ServerPortForClient,
                                         Proto => 'tcp', Timeout => 1);
        my $resp = '';
        if ($sock) {
            print $sock "GET /ver HTTP/1.0\r\nHost: Test-Nginx\r\n\r\n";
            local $/;
            $resp = <$sock> // '';
        }
        my ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
        if (defined $body && $body eq $ConfigVersion) {
            # old workers may still accept for a moment: insist on a streak
            $ok++;
            sleep $TestNginxSleep if $ok == 5;
            return if $ok >= 20;
            next;
        }
        $ok = 0;
        sleep 0.05;
    }
    Test::More->builder->no_ending(1);
    Test::More::fail("$name - failed to reload configuration");
}

# ---------------------------------------------------------------------------
# Error log
# ---------------------------------------------------------------------------

# Lines appended to error.log since the previous call in this block (or all of
# them with check_accum_error_log).  For must_die blocks what nginx printed on
# stderr at startup is added too (nginx normally writes the same messages to
# the -e log file; stderr also covers failures before that file is opened).
sub error_log_data () {
    # give the log phase (after the connection is closed) a chance to write
    sleep $TestNginxSleep * 3;

    my @lines;
    if (open my $in, '<', $ErrLogFile) {
        seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos > 0;
        @lines = <$in>;
        $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
        close $in;
    }
    # "nginx: [emerg] msg" on stderr usually repeats "... [emerg] pid#tid: msg"
    # from the log file; only add what the file lacks.
    for my $err (splice @PendingStderrLines) {
        my ($msg) = $err =~ /^nginx: \[\w+\] (.*)/;
        push @lines, $err
            unless defined $msg && grep { index($_, ": $msg") >= 0 } @lines;
    }
    return \@lines;
}

# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

sub run_tests () {
    $NginxVersion = get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }
    cleanup();
}

# skip_nginx "N: <op> x.y.z [: reason]" / skip_eval "N: perl-code"
# Returns ($tests_to_skip, $reason) when the block is to be skipped.
sub skip_spec {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $spec = sec($block, 'skip_eval'))) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($n, $code) = ($1, $2);
            my $skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
            return ($n, 'skip_eval') if $skip;
        }
    }

    if (defined(my $spec = sec($block, 'skip_nginx'))) {
        $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $ver = canon_version($3, $4, $5);
        my %cmp = ('<'  => sub { $_[0] <  $_[1] }, '<=' => sub { $_[0] <= $_[1] },
                   '>'  => sub { $_[0] >  $_[1] }, '>=' => sub { $_[0] >= $_[1] });
        return ($n, $reason || "nginx version $op $3.$4.$5")
            if $cmp{$op}->($NginxVersion, $ver);
    }
    return;
}

sub run_test {
    my ($block) = @_;
    my $name = $block->name;

    for my $s (@UnsupportedSections) {
        bail_out("$name - section --- $s is not supported by this runner (see t/README.md)")
            if exists $block->{$s};
    }

    my $first_time = $FirstTime;
    $FirstTime = 0;

    my $rand_ports = {};
    $RandPorts = $rand_ports;
    my $config = expand_env_in_text(sec($block, 'config'), $name, $rand_ports);

    local $LogLevel = sec($block, 'log_level') || $LogLevel;

    # nothing to reload or run under valgrind when nginx must die at startup
    my $must_die = sec($block, 'must_die');
    local $UseHup      = defined $must_die ? undef : $UseHup;
    local $UseValgrind = defined $must_die ? undef : $UseValgrind;
    # valgrind needs nginx in the foreground as our own child process
    local $DaemonEnabled = $UseValgrind ? 'off' : 'on';

    my $should_start = 0;
    if (!$NoNginxManager) {
        if (defined $config) {
            $should_start = 1;
        } elsif (!defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not get previous one.");
        }
    }

    my ($tests_to_skip, $skip_reason) = skip_spec($block);

    if ($should_start && !defined $tests_to_skip) {
        $PrevConfig = $config;
        $ConfigVersion = join '', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 10;

        my $pid = read_pid_file();
        if ($UseHup && !$first_time && $pid && is_running($pid)) {
            setup_server_root(0);
            run_post_setup($block);
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);
            reload_nginx($name, $pid);
        } else {
            stop_nginx($name);
            setup_server_root(1);
            run_post_setup($block);
            write_user_files($block, $rand_ports);
            write_config_file($block, $config, $rand_ports);

            if (defined $must_die) {
                run_must_die($block, $must_die);
                return;
            }
            start_nginx($block);
        }
    }

    if (defined(my $init = sec($block, 'init'))) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;

        if (defined $tests_to_skip) {
            SKIP: { Test::More::skip("$name - $skip_reason", $tests_to_skip) }
        } elsif (defined(my $todo = sec($block, 'todo'))) {
            $todo =~ /^\s*(\d+)\s*:\s*(.*)/s
                or bail_out("$name - Invalid --- todo spec: $todo");
            TODO: { Test::More::todo_skip("$name - $2", $1) }
        } else {
            $RunTestHelper->($block, 0, $i - 1);
        }
    }

    if ($UseValgrind && !$UseHup) {
        stop_nginx($name);    # makes valgrind print its report for this block
    }
}

sub run_post_setup {
    my ($block) = @_;
    my $code = sec($block, 'post_setup_server_root') or return;
    eval $code;
    bail_out($block->name . " - post_setup_server_root failed: $@") if $@;
}

# --- must_die: nginx has to fail at startup; error_log/no_error_log are then
# checked against error.log (written via -e) plus what nginx printed on stderr.
sub run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my ($status, $stderr) = run_nginx($block);
        @PendingStderrLines = map { "$_\n" } split /\n/, $stderr;
        my $exit_code = $status >> 8;

        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($status & 128) {
            Test::More::fail("$name - nginx core dumped");
        } elsif (looks_like_number($must_die)) {
            Test::More::is($exit_code, $must_die, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        $CheckErrorLog->($block, undef, 0, $i, 0);
        @PendingStderrLines = ();

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            for (1 .. 15) { last if -f $PidFile; sleep $TestNginxSleep }
            stop_nginx($name);
        }
    }
}

END {
    if ($$ == $MainPid) {
        local $?;    # keep Test::Builder's exit status
        cleanup();
        stop_nginx('END') if $UseValgrind || !$ENV{TEST_NGINX_NO_CLEAN};
        remove_tree($ServRoot)
            if $Randomize && $ServRoot =~ m{/t/servroot_\d+$} && -d $ServRoot;
    }
}

1;
