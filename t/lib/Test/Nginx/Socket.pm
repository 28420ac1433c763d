package Test::Nginx::Socket;

# The project's own Test::Nginx::Socket: a data-driven nginx test runner that
# accepts the same test files as openresty/test-nginx for the subset of
# features documented in t/README.md.  Built on Debian's Test::Base
# (libtest-base-perl); everything else is core Perl.
#
# This half is the client side: it turns the --- request sections into raw
# HTTP, talks to nginx over a plain socket and runs the assertions.  nginx
# itself is managed by Test::Nginx::Util.  Test names and the number of
# assertions per block follow upstream so `plan tests => ...` lines agree.

use strict;
use warnings;

# Makes this package a Test::Base subclass (without Spiffy's source filter):
# test scripts that `use Test::Nginx::Socket` get Test::Base's exports (plan,
# blocks, is, like, ok, ...) plus our @EXPORT, exactly like upstream.
use Test::Base -base;

use Test::Nginx::Util;
use Test::Nginx::Util qw(sec parse_header_list);

use Digest::MD5 ();
use Digest::SHA ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use List::Util qw(min max);
use POSIX qw(EAGAIN EINTR);
use Time::HiRes qw(sleep);

our $VERSION = '0.1';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_test_cleanup_handler
    add_cleanup_handler add_response_body_check
);

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;

our @ResponseBodyChecks;

sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

# Regexp -> like(); string -> is() (Test::Base's is() prints a diff for
# multi-line strings when Text::Diff is available).
sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return is($got, $expected, $desc);
}

# Called before an assertion that upstream only emits on failure (so the
# count no longer matches the plan): like upstream, turn off Test::Builder's
# end-of-run plan check.  prove still reports the "not ok" lines.
sub suppress_plan_check {
    Test::More->builder->no_ending(1);
}

# ---------------------------------------------------------------------------
# Building requests
# ---------------------------------------------------------------------------

# --- more_headers text -> ("Name: value\r\n"..., $is_chunked)
sub parse_more_headers {
    my ($in) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $in // '') {
        next if $line =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $line, 2;
        ($key, $val) = ($key // '', $val // '');
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URL [HTTP/x.y]]\nbody..." split into packets -> the raw HTTP
# request, split at the same places.  Adds Host, Connection and (for a
# non-chunked body) Content-Length; like upstream, the body is trimmed of
# surrounding whitespace when the Content-Length is computed for it.
sub build_request {
    my ($name, $more, $chunked, $conn, $packets) = @_;

    my $raw = join '', map { $_ // '' } @$packets;
    my ($first, $content) = $raw =~ /\A([^\n]*\n?)(.*)\z/s;
    bail_out("$name - Request line should be non-empty") if $first eq '';
    $first =~ /^(\s*)(\S+)( *)((\S+)( *))?((\S+)( *))?(\s*)$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                    . "but got \"$first\".");
    my ($meth, $url, $ver) = ($2, $5 // '/', $8 // 'HTTP/1.1');

    my ($len_header, $lead_trimmed) = ('', 0);
    if (!$chunked && $content ne '' && $more !~ /(?:^|\n)Content-Length:/) {
        $lead_trimmed = length(($content =~ /\A(\s*)/)[0]);
        $content =~ s/^\s+|\s+$//gs;
        $len_header = 'Content-Length: ' . length($content) . "\r\n";
    }

    my $headers = '';
    $headers .= "Host: $ServerName\r\n"   if $more !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n"   if $more !~ /(?:^|\n)Connection/msi;

    my $line = "$meth $url $ver";
    my $head = "$line\r\n$headers$more$len_header\r\n";
    my $full = $head . $content;
    return [$full] if @$packets <= 1;

    # Map each original packet boundary onto the rewritten request: inside
    # the request line it keeps its offset, at/after the end of the line it
    # moves past the generated headers.
    my @out;
    my ($orig, $pos) = (0, 0);
    for my $i (0 .. $#$packets) {
        $orig += length($packets->[$i] // '');
        my $end = $i == $#$packets         ? length $full
                : $orig < length $first    ? min($orig, length $line)
                : length($head) + max(0, $orig - length($first) - $lead_trimmed);
        $end = max($pos, min($end, length $full));
        push @out, substr($full, $pos, $end - $pos);
        $pos = $end;
    }
    return \@out;
}

# The block's requests: a list of requests, each a list of packets
# ({ value => $bytes, delay_before => $secs }).  Every request uses its own
# connection, except that --- pipelined_requests share one.
sub requests_from_block {
    my ($block) = @_;
    my $name = $block->name;

    if (defined(my $raw = sec($block, 'raw_request'))) {
        return [[ map { +{ value => $_ } } ref $raw eq 'ARRAY' ? @$raw : ($raw) ]];
    }

    my $more = sec($block, 'more_headers') || '';
    my $headers_for = sub {
        my ($i) = @_;
        return parse_more_headers($more) unless ref $more eq 'ARRAY';
        defined $more->[$i]
            or bail_out("$name - --- more_headers lacks data for the request $i");
        return parse_more_headers($more->[$i]);
    };

    if (my $reqs = sec($block, 'pipelined_requests')) {
        ref $reqs eq 'ARRAY'
            or bail_out("$name - invalid entries in --- pipelined_requests");
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $req = expand_env_in_text($reqs->[$i], $name, $Test::Nginx::Util::RandPorts);
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            $all .= build_request($name, $headers_for->($i), $conn, [$req])->[0];
        }
        return [[{ value => $all }]];
    }

    my $request = sec($block, 'request');
    if (!ref $request) {
        # leading blank lines and "# comment" lines are not part of the request
        1 while defined $request && $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        return [[{ value => build_request($name, $headers_for->(0), 'close', [$request])->[0] }]];
    }

    ref $request eq 'ARRAY'
        or bail_out("$name - invalid --- request: MUST be string or array of requests");

    my @list;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        if (!ref $one) {
            push @list, [{ value => build_request($name, $headers_for->($i), 'close', [$one])->[0] }];
        } elsif (ref $one eq 'ARRAY') {
            my @values = map {
                  !ref $_            ? $_
                : ref $_ eq 'HASH'   ? $_->{value}
                : bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
            } @$one;
            my $built = build_request($name, $headers_for->($i), 'close', \@values);
            # keep each packet's delay_before, with the rewritten bytes
            push @list, [ map {
                +{ %{ ref $one->[$_] ? $one->[$_] : {} }, value => $built->[$_] }
            } 0 .. $#$one ];
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }
    }
    return \@list;
}

# ---------------------------------------------------------------------------
# Talking to nginx
# ---------------------------------------------------------------------------

# Send one request (a list of packets) and read until nginx closes the
# connection.  $timeout is an idle timeout, as upstream.
# Returns ($raw_response, $is_head_request).
sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $head_req = (join '', map { $_->{value} // '' } @$packets) =~ /^\s*HEAD\s+/ ? 1 : 0;
    my $addr = sec($block, 'server_addr_for_client') // $ServerAddr;

    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout)
            and last;
        my $err = $!;
        my $child = $Test::Nginx::Util::ChildPid;
        if (defined $child && !is_running($child)) {
            suppress_plan_check();
            Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: "
                             . "$err (nginx is gone)");
            return;
        }
        my $wait = min(1, (sleep_time() + sleep_time() * $try) * $try / 2);
        warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n"
             . "\tRetry connecting after $wait sec\n" if $wait >= 0.6;
        sleep $wait;
    }
    if (!$sock) {
        suppress_plan_check();
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: $! (aborted)");
        return;
    }

    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';

    my $middle_delay = parse_time(sec($block, 'raw_request_middle_delay'));
    my @queue = @$packets;
    my ($buf, $off) = ((shift @queue)->{value} // '', 0);
    my ($writing, $resp) = (1, '');
    my $sel = IO::Select->new($sock);

    while (1) {
        my ($readable, $writable) =
            IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);

        if (!$readable && !$writable) {
            next if $!{EINTR};
            if (!defined sec($block, 'abort')) {
                suppress_plan_check();
                Test::More::fail("ERROR: client socket timed out - $name\n");
            }
            last;
        }

        if ($writable && @$writable) {
            my $n = length($buf) > $off ? syswrite($sock, $buf, length($buf) - $off, $off) : 0;
            if (!defined $n) {
                if ($! != EAGAIN && $! != EINTR) {
                    warn "write failed: $!\n";
                    $resp = "write failed: $!" if $resp eq '';
                    $writing = 0;    # keep reading whatever nginx sent back
                }
            } elsif (($off += $n) >= length $buf) {
                if (my $next = shift @queue) {
                    my $delay = $next->{delay_before} // $middle_delay;
                    sleep $delay if $delay;
                    ($buf, $off) = ($next->{value} // '', 0);
                } else {
                    $writing = 0;
                    if (defined(my $how = sec($block, 'shutdown'))) {
                        shutdown $sock, $how =~ /^\s*$/ ? 1 : $how;
                    }
                }
            }
        }

        if ($readable && @$readable) {
            my $n = sysread $sock, my $chunk, 4096;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EINTR;
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $head_req);
}

# ---------------------------------------------------------------------------
# Parsing responses
# ---------------------------------------------------------------------------

# Case-insensitive header lookup; repeated headers are joined with ", " in
# scalar context (like HTTP::Headers).
sub res_header {
    my ($res, $key) = @_;
    return wantarray ? () : undef unless $res;
    my @vals = map { $_->[1] } grep { lc $_->[0] eq lc $key } @{ $res->{headers} };
    return @vals if wantarray;
    return @vals ? join(', ', @vals) : undef;
}

# Parse one response off the front of $raw.
# Returns ($res, $raw_headers, $left_over_bytes); $res is
# { code => ..., headers => [[name, value], ...], content => ... }.
sub parse_response {
    my ($name, $raw, $head_req) = @_;

    my $raw_headers = $raw =~ /\A(.*?\r\n)\r\n/s ? $1 : '';
    my ($head, $body) = $raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s ? ($1, $2) : ($raw, '');
    my @lines = split /\r?\n/, $head;
    my $status = shift(@lines) // '';
    my ($code) = $status =~ /^\d{3}\s/ ? $status =~ /^(\d+)/ : $status =~ /^\S+\s+(\S+)/;
    undef $code if defined $code && $code !~ /^\d+$/;

    my @headers;
    for (@lines) {
        if (/^([^\s:]+)[ \t]*: ?(.*)$/) {
            push @headers, [$1, $2];
        } elsif (/^[ \t]+(.*)$/ && @headers) {
            $headers[-1][1] .= "\n$1";
        }
    }
    my $res = { code => $code, headers => \@headers, content => $body };
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $left;
    my $enc = res_header($res, 'Transfer-Encoding');
    my $len = res_header($res, 'Content-Length');

    if (defined $enc && $enc eq 'chunked') {
        my @trailers = res_header($res, 'Trailer');
        my $decoded = '';
        my $bad = sub {
            suppress_plan_check();
            Test::More::fail("$name - $_[0]");
            return;
        };
        pos($body) = 0;
        while (1) {
            if (!@trailers && $body =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if (@trailers && $body =~ /\G0[ \t]*\r\n/gc) {
                for my $t (@trailers) {
                    $body =~ /\G\Q$t\E: [^\n]*\r\n/gc
                        or return $bad->("invalid trailer data received (expected $t).");
                }
                $body =~ /\G\r\n/gc
                    or return $bad->("invalid chunked data received (expected CRLF).");
                $left = $1 if $body =~ /\G(.+)/gcs;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my $size = hex $1;
                length($body) - pos($body) >= $size
                    or return $bad->("invalid chunked data received "
                                     . "(not enought octets for the data section)");
                $decoded .= substr $body, pos($body), $size;
                pos($body) += $size;
                $body =~ /\G\r\n/gc
                    or return $bad->("invalid chunked data received (expected CRLF).");
            } elsif ($body =~ /\G(.+)/gcs) {
                return $bad->("invalid chunked body received: $1");
            } else {
                return $bad->("no last chunk found - $body");
            }
        }
        $res->{content} = $decoded;

    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $body < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ",
                 length $body, "\n" unless $head_req;
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->{content} = substr $body, 0, $len;
        }
    }
    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# Assertions
# ---------------------------------------------------------------------------

# Expected value for request $idx: with several requests the section must be
# an array; a lone array for a single request means its first element.
sub get_indexed_value {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->{code}) || '';

    if (defined(my $like = sec($block, 'error_code_like'))) {
        my $val = get_indexed_value($name, $like, $idx, $need_array);
        like($code, qr/$val/sm, "$name - status code ok");
    } elsif (defined(my $want = sec($block, 'error_code'))) {
        is($code, get_indexed_value($name, $want, $idx, $need_array), "$name - status code ok");
    } else {
        is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined(my $v = sec($block, 'raw_response_headers_like'))) {
        my $re = get_indexed_value($name, $v, $idx, $need_array);
        like($raw_headers, qr/$re/s, "$name - raw resp headers like");
    }
    if (defined(my $v = sec($block, 'raw_response_headers_unlike'))) {
        my $re = get_indexed_value($name, $v, $idx, $need_array);
        unlike($raw_headers, qr/$re/s, "$name - raw resp headers unlike");
    }
}

# One assertion per listed header; "!Name" asserts absence (matched, as
# upstream does, case-sensitively against the raw header block).
sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined(my $spec = sec($block, 'response_headers'))) {
        for my $h (parse_header_list(get_indexed_value($name, $spec, $idx, $need_array))) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                unlike($raw_headers // '', qr/^\s*\Q$key\E\s*:/ms,
                       "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            is(res_header($res, $key) // '', $val, "$name - header $key ok");
        }
    } elsif (defined(my $like = sec($block, 'response_headers_like'))) {
        for my $h (parse_header_list(get_indexed_value($name, $like, $idx, $need_array))) {
            my ($key, $re) = ($h->[0], $h->[1] // '');
            like(res_header($res, $key) // '', qr/^$re$/, "$name - header $key like ok");
        }
    }
}

# --- response_body_filters: names (md5_hex sha1_hex uc lc ucfirst lcfirst
# length) or code refs, applied in order; a 2-D array gives one list per request.
sub transform_response_body {
    my ($block, $res, $idx) = @_;
    my $filters = sec($block, 'response_body_filters');
    return unless defined $filters && $res && defined $res->{content};
    my $name = $block->name;

    if (!ref $filters) {
        $filters = [split ' ', $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx]
            // bail_out("$name - the ---response_body_filters two-dimensional array "
                        . "unmatch the specified request($idx)");
    }

    my %named = (
        md5_hex => \&Digest::MD5::md5_hex, sha1_hex => \&Digest::SHA::sha1_hex,
        uc => sub { uc $_[0] }, lc => sub { lc $_[0] },
        ucfirst => sub { ucfirst $_[0] }, lcfirst => sub { lcfirst $_[0] },
        length => sub { length $_[0] },
    );
    for my $f (ref $filters eq 'ARRAY' ? @$filters : ($filters)) {
        my $code = ref $f eq 'CODE' ? $f
                 : !ref $f          ? $named{$f}
                 : undef;
        $code or bail_out("$name - unknown filter, \"$f\", specified in the "
                          . "--- response_body_filters section");
        $res->{content} = $code->($res->{content});
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->{content} : undef;

    if (defined(my $spec = sec($block, 'response_body'))) {
        if (defined sec($block, 'response_body_json_sort') && defined $content) {
            my $js = JSON::PP->new->canonical(1)->loose(1);
            my $obj = eval { $js->decode($content) };
            $content = $js->encode($obj) . "\n" if !$@;
        }

        my $expected = get_indexed_value($name, $spec, $idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts);
        }

        if (ref $expected) {
            like($content, $expected,
                 "$name - response_body - like (repeated req $rep, req $idx)");
        } else {
            is($content, $expected,
               "$name - response_body - response is expected (repeated req $rep, req $idx)");
        }

    } elsif (defined sec($block, 'response_body_like')
             || defined sec($block, 'response_body_unlike'))
    {
        my $type = defined sec($block, 'response_body_like') ? 'like' : 'unlike';
        my $pat  = get_indexed_value($name, sec($block, "response_body_$type"),
                                     $idx, $need_array);
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        my $summary = trim($content) // '';
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($content, qr/$pat/s,
               "$name - response_body_$type - response is expected ($summary)");
    }

    $_->($block, $res ? $res->{content} : undef, $idx, $rep, 0) for @ResponseBodyChecks;
}

sub value_contains {
    my ($val, $pat) = @_;
    return scalar grep { value_contains($_, $pat) } @$val if ref $val eq 'ARRAY';
    return defined $val && $val =~ /\Q$pat\E/;
}

# error_log / no_error_log value -> list of patterns (strings or qr//)
sub log_patterns {
    my ($pats) = @_;
    return [@$pats]  if ref $pats eq 'ARRAY';
    return [$pats]   if ref $pats eq 'Regexp';
    chomp $pats;
    return [split /\n+/, $pats];
}

sub line_matches {
    my ($line, $pat) = @_;
    return (ref $pat && $line =~ /$pat/) || $line =~ /\Q$pat\E/;
}

sub fmt_str {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

# One assertion per grep_error_log, per error_log pattern and per
# no_error_log pattern, against the error.log lines written since the
# previous check.
sub check_error_log {
    my ($block, $res, $dry_run, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines;
    my %warn_on = map { $_ => 1 } qw(alert crit emerg);

    if (defined(my $grep = sec($block, 'grep_error_log'))) {
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        my $expected = sec($block, 'grep_error_log_out');
        defined $expected
            or bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined");
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        $expected = expand_env_in_text($expected, $name, $Test::Nginx::Util::RandPorts)
            unless ref $expected;

        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            if ((ref $grep && $line =~ /$grep/) || $line =~ /\Q$grep\E/) {
                $matched .= "$&\n" if $& !~ /\n/;
            }
        }
        if (ref $expected eq 'Regexp') {
            like($matched, $expected, "$name - grep_error_log_out (req $rep)");
        } else {
            is($matched, $expected, "$name - grep_error_log_out (req $rep)");
        }
    } elsif (defined sec($block, 'grep_error_log_out')) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined(my $spec = sec($block, 'error_log'))) {
        for my $level (keys %warn_on) {
            delete $warn_on{$level} if value_contains($spec, "[$level");
        }
        my $pats = log_patterns($spec);
        $lines ||= error_log_data();
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next unless defined $pat && line_matches($line, $pat);
                Test::More::pass("$name - pattern \"$pat\" matches a line in error.log (req $rep)");
                undef $pat;
            }
        }
        for my $pat (grep { defined } @$pats) {
            Test::More::fail("$name - pattern \"$pat\" should match a line in error.log (req $rep)");
        }
    }

    if (defined(my $spec = sec($block, 'no_error_log'))) {
        for my $level (keys %warn_on) {
            delete $warn_on{$level} if value_contains($spec, "[$level");
        }
        my $pats = log_patterns($spec);
        my %found;
        $lines ||= error_log_data();
        for my $i (0 .. $#$lines) {
            my $line = $lines->[$i];
            for my $pat (grep { defined } @$pats) {
                next unless line_matches($line, $pat);
                suppress_plan_check() if $found{$pat}++;
                my @context = @$lines[$i + 1 .. min($i + 9, $#$lines)];
                Test::More::fail("$name - pattern \"" . fmt_str($pat) . "\" should not match "
                                 . "any line in error.log but matches line \"" . fmt_str($line)
                                 . "\" (req $rep)\n" . join '', @context);
            }
        }
        for my $pat (grep { defined && !$found{$_} } @$pats) {
            Test::More::pass("$name - pattern \"" . fmt_str($pat)
                             . "\" does not match a line in error.log (req $rep)");
        }
    }

    # Serious log levels nobody asserted on are reported, not failed.
    if (%warn_on) {
        $lines ||= error_log_data();
        my $re = join '|', keys %warn_on;
        for my $line (@$lines) {
            warn "WARNING: $name - " . fmt_str($line) . "\n" if $line =~ /\[(?:$re)\]/;
        }
    }
    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            suppress_plan_check();
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

# ---------------------------------------------------------------------------
# Per-block driver (called once per repeat_each round)
# ---------------------------------------------------------------------------

sub run_test_helper {
    my ($block, $dry_run, $rep) = @_;
    my $name = $block->name;

    my $reqs = requests_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time(sec($block, 'timeout')) // timeout();
    my $pipelined = sec($block, 'pipelined_requests');
    my $need_array = $pipelined ? 1 : @$reqs > 1;
    my $wait = parse_time(sec($block, 'wait'));
    my $ignore = defined sec($block, 'ignore_response');
    my $idx = 0;
    my $res;

    for my $r (0 .. $#$reqs) {
        my ($raw, $head_req) = send_request($block, $reqs->[$r], $timeout);
        $raw //= '';
        # a pipelined request yields several responses on one connection
        my $responses = $pipelined ? @$pipelined : 1;

        while ($responses-- > 0) {
            my ($raw_headers, $left);
            if (!$ignore) {
                if (defined sec($block, 'http09')) {
                    ($res, $raw_headers) = ({ code => 200, headers => [], content => $raw }, '');
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                }
                check_error_code($block, $res, $idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $idx, $need_array);
                transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $idx, $rep, $need_array);
            }

            if ($pipelined) {
                $raw = $left // '';
            } elsif (defined $left && length $left) {
                (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last chunk in "
                     . "response: \"$l\"\n";
            }

            # error log checks run after every response except the last,
            # which is handled below
            if ($responses > 0 || $r < $#$reqs) {
                sleep $wait if $wait;
                check_error_log($block, $res, $dry_run, $rep, $need_array);
            }
            $idx++;
        }
    }

    sleep $wait if $wait;
    check_error_log($block, $res, $dry_run, $rep, $need_array);
}

1;
