#!/usr/bin/perl

# What a background subrequest does to a keep-alive client: rounds of two
# requests, the first of which starts one (an "async" narrative miss), the
# second sent as soon as the first answer is complete.  The client behaves
# like a browser: it reuses its connection unless the answer said
# "Connection: close", and then opens a new one.  Core Perl only.
#
#   perl bench/keepalive.pl --port N --first '/recs?q=shoes+%d'
#                           [--second /ok] [--rounds 10] [--run ID]
#
#   --first    the first request's path; %d becomes a number unique to
#              the round (and to --run), so every round misses the cache
#   --second   the second request's path (default: --first's of round 0)
#
# Per round: how long the first answer took, how long after it the second
# answer came (the cost the design decides: on the same connection, or
# after "Connection: close" on a new one, which a browser opens at once),
# and with "Connection: close" how long after the first answer the
# server's end of the connection closed (a client reading to the end of
# the stream waits that long).  Then the medians and maxima.

use strict;
use warnings;

use Getopt::Long ();
use IO::Select ();
use IO::Socket::INET ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my %Opt = (rounds => 10, run => $$, host => '127.0.0.1');

Getopt::Long::GetOptions(\%Opt, 'port=i', 'host=s', 'first=s', 'second=s',
                         'rounds=i', 'run=s')
    or die "usage: $0 --port N --first PATH [--second PATH] [--rounds N] "
           . "[--run ID]\n";

die "$0: --port and --first are required\n"
    unless $Opt{port} && $Opt{first};

my (@first, @second, @eof, $closes);

for my $round (1 .. $Opt{rounds}) {
    my $unique = $Opt{run} * 1000 + $round;
    (my $path1 = $Opt{first}) =~ s/%d/$unique/g;
    my $path2 = $Opt{second};

    if (!defined $path2) {
        ($path2 = $Opt{first}) =~ s/%d/0/g;
    }

    my $c = connect_to();
    my $t0 = time;
    my $res = request($c, $path1);
    my $t1 = time;

    die "round $round: first answer $res->{status}\n"
        unless $res->{status} == 200;

    my $eof_after;

    if ($res->{close}) {
        $closes++;

        # how long a client reading to the end of the stream would wait
        $eof_after = wait_eof($c, 10) - $t1;

        # a browser opens a new connection at once: timed from then
        my $t = time;
        my $c2 = connect_to();
        my $res2 = request($c2, $path2);
        my $t2 = time;
        close $c2;

        die "round $round: second answer $res2->{status}\n"
            unless $res2->{status} == 200;

        push @second, $t2 - $t;

    } else {
        my $res2 = request($c, $path2);
        my $t2 = time;

        die "round $round: second answer $res2->{status}\n"
            unless $res2->{status} == 200;

        push @second, $t2 - $t1;
    }

    close $c;
    push @first, $t1 - $t0;
    push @eof, $eof_after if defined $eof_after;

    printf "round %2d: first %7.2f ms, second %8.2f ms after it, %s%s\n",
           $round, 1000 * ($t1 - $t0), 1000 * $second[-1],
           $res->{close} ? 'Connection: close' : 'keep-alive',
           defined $eof_after
               ? sprintf(', server closed %.2f ms after it',
                         1000 * $eof_after)
               : '';
}

printf "first answer: median %.2f ms, max %.2f ms\n", med(\@first),
       max(\@first);
printf "second answer after the first: median %.2f ms, max %.2f ms\n",
       med(\@second), max(\@second);
printf "Connection: close on %d of %d first answers\n", $closes || 0,
       $Opt{rounds};
printf "server end closed after the first answer: median %.2f ms, "
       . "max %.2f ms\n", med(\@eof), max(\@eof)
    if @eof;


sub connect_to {
    my $c = IO::Socket::INET->new(PeerAddr => $Opt{host},
                                  PeerPort => $Opt{port}, Proto => 'tcp')
        or die "connect: $!\n";
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $c;
    return $c;
}


# one request, its answer read by Content-Length
sub request {
    my ($c, $path) = @_;

    syswrite($c, "GET $path HTTP/1.1\r\nHost: $Opt{host}\r\n"
                 . "User-Agent: bench-keepalive\r\n\r\n")
        or die "write: $!\n";

    my $buf = '';

    while ($buf !~ /\r\n\r\n/) {
        fill($c, \$buf, 10) or die "closed before the header\n";
    }

    my ($head, $body) = split(/\r\n\r\n/, $buf, 2);
    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})};
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;

    die "no Content-Length in:\n$head\n" unless defined $len;

    while (length($body) < $len) {
        fill($c, \$body, 10) or die "closed inside the body\n";
    }

    return { status => $status || 0,
             close => ($head =~ /^Connection:\s*close/mi ? 1 : 0) };
}


sub fill {
    my ($c, $buf, $timeout) = @_;

    IO::Select->new($c)->can_read($timeout) or die "read timed out\n";

    my $n = sysread($c, $$buf, 65536, length $$buf);
    die "read: $!\n" unless defined $n;

    return $n;
}


# the time the server's end of c closes (0 bytes read)
sub wait_eof {
    my ($c, $timeout) = @_;

    my $buf = '';

    while (IO::Select->new($c)->can_read($timeout)) {
        my $n = sysread($c, $buf, 65536);
        return time if !$n;
    }

    die "the server did not close within $timeout s\n";
}


sub med {
    my @s = sort { $a <=> $b } @{ $_[0] };
    return 1000 * $s[int($#s / 2)];
}


sub max {
    my @s = sort { $a <=> $b } @{ $_[0] };
    return 1000 * $s[-1];
}
