#!/usr/bin/perl

# Keeps the mock model (t/mock-llm.pl) as busy as an async benchmark run
# does, without nginx: CONNECTIONS keep-alive connections, each posting
# the chat request of BODY_FILE again as soon as the previous answer is
# in.  With the mock's --delay D that is CONNECTIONS / D calls a second,
# and the mock spends on them the CPU it spends on the module's calls.
# Core Perl only; prints the calls made.
#
#   perl bench/mock-load.pl --port N --body FILE [--connections 240]
#                           --seconds S

use strict;
use warnings;

use Getopt::Long ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(time);

my %Opt = (connections => 240);

Getopt::Long::GetOptions(\%Opt, 'port=i', 'body=s', 'connections=i',
                         'seconds=f')
    or die "usage: $0 --port N --body FILE [--connections N] --seconds S\n";

die "$0: --port, --body and --seconds are required\n"
    unless $Opt{port} && $Opt{body} && $Opt{seconds};

open(my $fh, '<', $Opt{body}) or die "$Opt{body}: $!\n";
my $body = do { local $/; <$fh> };
close $fh;

my $request = "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\n"
              . "Content-Type: application/json\r\n"
              . "Content-Length: " . length($body) . "\r\n\r\n" . $body;

my $sel = IO::Select->new;
my (%buf, $calls);

for (1 .. $Opt{connections}) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $Opt{port}, Proto => 'tcp')
        or die "connect: $!\n";
    binmode $c;
    syswrite($c, $request);
    $buf{$c} = '';
    $sel->add($c);
}

my $end = time + $Opt{seconds};

while (time < $end) {
    for my $c ($sel->can_read($end - time)) {
        my $n = sysread($c, $buf{$c}, 65536, length $buf{$c});
        die "the mock closed a connection\n" unless $n;

        my $h = index($buf{$c}, "\r\n\r\n");
        next if $h < 0;

        my ($len) = substr($buf{$c}, 0, $h) =~ /Content-Length:\s*(\d+)/i;
        next if length($buf{$c}) < $h + 4 + $len;

        $buf{$c} = '';
        $calls++;
        syswrite($c, $request);
    }
}

print "mock-load: ", $calls || 0, " calls\n";
