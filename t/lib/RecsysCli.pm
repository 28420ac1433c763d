package RecsysCli;

# Runs a command, as the CLI suites run recsys-index, without a shell:
#
#   use RecsysCli qw(run);
#   my ($rc, $stdout, $stderr) = run($cli, 'query', $dir, 'x');

use strict;
use warnings;

use Exporter qw(import);
use File::Temp ();

our @EXPORT_OK = qw(run);


sub run {
    my @cmd = @_;
    my $err = File::Temp->new;

    open(my $saved, '>&', \*STDERR) or die "RecsysCli: dup: $!\n";
    open(STDERR, '>', $err->filename) or die "RecsysCli: stderr: $!\n";

    my $out = eval {
        open(my $fh, '-|', @cmd) or die "RecsysCli: cannot run $cmd[0]: $!\n";
        local $/;
        my $o = <$fh>;
        close $fh;
        $o;
    };
    my $died = $@;
    my $rc = $? >> 8;

    open(STDERR, '>&', $saved) or die "RecsysCli: dup: $!\n";
    die $died if $died;

    open my $fh, '<', $err->filename or die "RecsysCli: $!\n";
    my $stderr = do { local $/; <$fh> };

    return ($rc, $out // '', $stderr);
}

1;
