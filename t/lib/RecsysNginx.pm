package RecsysNginx;

# What the Test::Nginx suites do from a block's Perl code ("--- init",
# "--- redis_after"): requests on connections of their own, reloads of the
# nginx under test, and the "--- redis_after" section itself.  It calls
# only the functions both runners (ours and upstream's) define, once the
# suite has loaded Test::Nginx::Socket.
#
#   RecsysNginx::redis_after_section();    # at the top of a suite
#   RecsysNginx::post_json('/events', $json);   # the status
#   RecsysNginx::reload_nginx(sub { $_[0] =~ s/a/b/ });   # the seconds
#   RecsysNginx::nap(0.5);

use strict;
use warnings;

use IO::Socket::INET ();
use Time::HiRes ();


# fractions of a second, whatever the caller's sleep is
sub nap { Time::HiRes::sleep($_[0]) if $_[0] > 0 }


# a POST to the nginx under test: its status, or why there is none
sub post_json {
    my ($path, $json) = @_;

    my $s = IO::Socket::INET->new(
                PeerAddr => '127.0.0.1',
                PeerPort => Test::Nginx::Util::server_port_for_client(),
                Timeout => 5)
        or return "connect: $!";

    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($json) . "\r\n\r\n$json";

    local $/;
    my $res = <$s> // '';
    close $s;

    return $res =~ m{^HTTP/1\.1 (\d+)} ? $1 : "no answer";
}


# the live worker processes of a master
sub workers_of_master {
    my ($master) = @_;
    my @pids;
    opendir my $dir, '/proc' or die "/proc: $!\n";
    for my $pid (grep { /^\d+$/ } readdir $dir) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        push @pids, $pid if $stat =~ /\) [^Z] (\d+) / && $1 == $master;
    }
    return @pids;
}


# nginx.conf changed by $edit (if any), "nginx -s reload", then wait until
# only new workers are left: the seconds that took
sub reload_nginx {
    my ($edit) = @_;

    my $root = Test::Nginx::Util::server_root();

    if ($edit) {
        open my $fh, '<', "$root/conf/nginx.conf" or die "nginx.conf: $!\n";
        my $text = do { local $/; <$fh> };
        close $fh;
        $edit->($text);
        open $fh, '>', "$root/conf/nginx.conf" or die "nginx.conf: $!\n";
        print $fh $text;
        close $fh;
    }

    open my $fh, '<', "$root/logs/nginx.pid" or die "pid: $!\n";
    my ($master) = <$fh> =~ /(\d+)/;
    close $fh;

    my $start = Time::HiRes::time();
    my %old = map { $_ => 1 } workers_of_master($master);
    kill 'HUP', $master or die "cannot signal $master: $!\n";

    for (1 .. 400) {
        Time::HiRes::sleep(0.05);
        my @now = workers_of_master($master);
        return Time::HiRes::time() - $start
            if @now == Test::Nginx::Util::workers()
               && !grep { $old{$_} } @now;
    }

    die "nginx did not replace its workers after a reload\n";
}


# "--- redis_after": Perl run after the block's last response, for what
# Redis (or nginx) holds then
sub redis_after_section {
    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx) = @_;

        my $code = $block->redis_after or return;
        my $req = $block->request;
        my $last = ref $req eq 'ARRAY' ? $#$req : 0;

        return unless $req_idx == $last;

        package main;
        eval "$code; 1" or die $block->name . " - redis_after failed: $@";
    });
}

1;
