# Every answer shape matches docs/schema/recommendations.schema.json,
# checked with Debian's python3-jsonschema on recsys-index query output
# (the same renderer the module runs).

use strict;
use warnings;
use Test::More;
use Cwd qw(cwd);

my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $index = $ENV{TEST_NGINX_INDEX} || cwd() . '/build/t-index';
my $schema = cwd() . '/docs/schema/recommendations.schema.json';

plan skip_all => "$cli not built" unless -x $cli;
plan skip_all => 'python3-jsonschema is not installed'
    unless system('/usr/bin/python3 -c "import jsonschema" 2>/dev/null') == 0;

# each with the embed source the answer must name
my @queries = (
    ['builtin', 'running shoes'],
    ['builtin', 'running shoes under $100 without stridewell', '--explain'],
    ['popularity', '', '--k', '3'],
    ['builtin', '', '--item', 'cm-001', '--explain'],
    ['builtin', 'nothing at all matches zzzz', '--category', 'Nowhere'],
    ['builtin', 'crème brûlée torch', '--k', '1'],
);

for my $q (@queries) {
    my ($source, $text, @args) = @$q;
    my $cmd = join ' ', map { "'$_'" } $cli, 'query', $index, $text, @args;
    my $out = `$cmd`;
    is $?, 0, "query \"$text\" @args runs";
    like $out, qr/"embed_source":"\Q$source\E"/,
        "answer to \"$text\" @args was searched with $source";

    open my $py, '|-', '/usr/bin/python3', '-c', <<'PY', $schema
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.validate(json.load(sys.stdin), schema)
PY
        or die "python3: $!";
    print $py $out;
    close $py;
    is $?, 0, "answer to \"$text\" @args matches the schema";
}

done_testing();
