# recsys-index: catalogue validation, strict builds, both catalogue forms,
# the query command and the generator.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Cwd qw(cwd);
use FindBin;
use lib "$FindBin::Bin/lib";
use RecsysCli qw(run);

my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $data = $ENV{TEST_NGINX_DATA} || cwd() . '/t/data';
my $tmp = tempdir(CLEANUP => 1);

plan skip_all => "$cli not built" unless -x $cli;

my ($rc, $out, $err) = run($cli, 'build', '--catalog',
                           "$data/bad_catalog.jsonl", '--out', "$tmp/bad");
is $rc, 0, 'a catalogue with bad lines still builds by default';
like $err, qr/bad_catalog\.jsonl:2: rejected: invalid JSON/,
    'invalid JSON is reported with its line number';
like $err, qr/:3: rejected: "id" must be a non-empty string/, 'missing id';
like $err, qr/:5: rejected: "title" must be a non-empty string/,
    'missing title';
like $err, qr/:7: rejected: "price" must not be negative/, 'negative price';
like $err, qr/:8: rejected: "price" must be a number/, 'price as a string';
like $err, qr/:10: rejected: "stock" must be an integer/, 'stock as a float';
like $err, qr/:11: rejected: "created_at" must be an ISO 8601 date/,
    'created_at not ISO 8601';
like $err, qr/:12: warning: duplicate id "good-001" \(line 1\): the last one wins/,
    'a duplicate id is a warning';
like $err, qr/:13: rejected: a product must be a JSON object/,
    'an array line';
unlike $err, qr/:9:/, 'the empty line is ignored';
like $err, qr/3 items, 9 rejected, 1 duplicate ids/, 'the summary counts';

($rc, $out, $err) = run($cli, 'query', "$tmp/bad", 'good', '--k', '10');
is $rc, 0, 'the index of the good lines answers';
my @ids = $out =~ /"id":"([^"]+)"/g;
is_deeply [sort @ids], [qw(good-001 good-002 good-003)],
    'exactly the good products are indexed';

($rc, $out, $err) = run($cli, 'build', '--catalog',
                        "$data/bad_catalog.jsonl", '--out', "$tmp/strict",
                        '--strict');
isnt $rc, 0, '--strict fails on the first bad line';
like $err, qr/recsys-index build: line 2: invalid JSON/,
    '--strict names the line';
ok !-e "$tmp/strict/manifest.json", 'a failed build leaves no manifest';

($rc, $out, $err) = run($cli, 'build', '--catalog', "$data/catalog.json",
                        '--out', "$tmp/array", '--index', 'hnsw',
                        '--dim', '64');
is $rc, 0, 'a JSON array catalogue builds';
like $err, qr/5 items, 0 rejected, 0 duplicate ids, hnsw index, dim 64/,
    'with the requested index type and dimension';

($rc, $out, $err) = run($cli, 'build', '--catalog', "$data/catalog.json",
                        '--out', "$tmp/x", '--index', 'ivf');
is $rc, 2, 'an unknown index type is a usage error';
like $err, qr/invalid value "ivf" for --index/, 'and says which value';

($rc, $out, $err) = run($cli, 'build', '--catalog', "$tmp/none.jsonl",
                        '--out', "$tmp/none");
is $rc, 1, 'a missing catalogue fails';
like $err, qr/cannot open ".*none\.jsonl"/, 'and says so';

($rc, $out, $err) = run($cli, 'query', "$tmp/array", '--item',
                        'no-such-id');
is $rc, 1, 'query with an unknown item fails';
like $err, qr/unknown item "no-such-id"/, 'and names the item';

my ($rc1, $gen1) = run($cli, 'gen', '--n', '200', '--seed', '5');
my ($rc2, $gen2) = run($cli, 'gen', '--n', '200', '--seed', '5');
my (undef, $gen3) = run($cli, 'gen', '--n', '200', '--seed', '6');
is $rc1, 0, 'gen succeeds';
is scalar(() = $gen1 =~ /\n/g), 200, 'gen writes n lines';
is $gen1, $gen2, 'the same seed gives the same catalogue';
isnt $gen1, $gen3, 'another seed gives another catalogue';

done_testing();
