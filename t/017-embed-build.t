# recsys-index build --embedder openai against the mock embeddings server
# (t/embed-mock.pl): the index and its manifest, queries on it, every
# failure of the endpoint (slow, failing, throttling, wrong vectors), and
# builds interrupted and resumed without any text embedded twice, as the
# mock's count of embedded texts proves.

use strict;
use warnings;
use Test::More;
use Cwd qw(cwd);
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);

use FindBin;
use lib "$FindBin::Bin/lib";
use RecsysCli qw(run);
use RecsysEmbedMock;

my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $data = $ENV{TEST_NGINX_DATA} || cwd() . '/t/data';
my $catalog = "$data/catalog.jsonl";
my $tmp = tempdir(CLEANUP => 1);

plan skip_all => "$cli not built" unless -x $cli;

my $mock = RecsysEmbedMock->new(dim => 64)->start;
my $n = 0;


# a fresh directory and a fresh mock behaviour and count for each case
sub build {
    my ($url, @opt) = @_;
    my $dir = "$tmp/idx" . ++$n;
    return ($dir, run($cli, 'build', '--catalog', $catalog, '--out', $dir,
                      '--embedder', 'openai', '--endpoint', $url,
                      '--model', 'mock-64', @opt));
}


sub fresh {
    $mock->control(@_);
    $mock->reset;
}


sub manifest {
    open my $fh, '<', "$_[0]/manifest.json" or return undef;
    local $/;
    return decode_json(<$fh>);
}


# --- a build, its manifest, queries

fresh();
(my $port = $mock->url) =~ s{^http://}{http://user:secret\@};
my ($dir, $rc, $out, $err) = build($port, '--batch', 8);
my $index = $dir;

is $rc, 0, 'a build against the mock succeeds' or diag $err;
like $err, qr/50 items embedded in 7 requests \(0 retries, \d+ items\/s\), 0 from the checkpoint; lexical companion dim 256/,
    'the summary counts items, requests, retries and the rate';
like $err, qr/flat index, dim 64/, 'the index has the model dimension';

my $stats = $mock->stats;
is $stats->{texts}, 50, 'each of the 50 products was sent once';
is $stats->{unique}, 50, '50 different texts';

my $m = manifest($dir);
my $emb = $m->{embedder};
is $m->{dim}, 64, 'manifest: dim is the model\'s';
is $emb->{type}, 'openai', 'manifest: embedder type';
is $emb->{model}, 'mock-64', 'manifest: model';
is $emb->{dim}, 64, 'manifest: embedder dim';
is $emb->{endpoint_host}, '127.0.0.1:' . $mock->port,
    'manifest: the endpoint host, without the credentials or the path';
unlike encode_json($m), qr/secret/, 'no credential anywhere in the manifest';
like $emb->{text_template}, qr/^\{\{title\}\}/,
    'manifest: the default text template';
is $emb->{companion}{index}, 'index-lexical.faiss',
    'manifest: the lexical companion index';
is $emb->{companion}{name}, 'hashed-tfidf', 'of the built-in embedder';
is $emb->{companion}{dim}, 256, 'with its own dimension';
ok $m->{files}{'index-lexical.faiss'}{checksum},
    'the companion has a checksum';
ok -s "$dir/embeddings.ckpt", 'the checkpoint stays for the next build';

($rc, $out, $err) = run($cli, 'query', $dir, 'running shoes', '--k', 4,
                        '--explain');
is $rc, 0, 'query on the model\'s index';
my @ids = $out =~ /\{"id":"([^"]+)"/g;
is scalar(grep { /^shoe-/ } @ids), 4, 'running shoes for running shoes';
like $err, qr/embed source: lexical_fallback/,
    'through the lexical companion, the text having no model vector';

($rc, $out, $err) = run($cli, 'query', $dir, '--item', 'lap-001', '--k', 3,
                        '--explain');
is $rc, 0, 'more like this on the model\'s index';
like $err, qr/embed source: model/, 'with the model\'s stored vectors';
unlike $out, qr/"id":"lap-001"/, 'never the item itself';

($rc, $out, $err) = run($cli, 'query', $dir, '', '--explain');
like $err, qr/embed source: popularity/, 'nothing to search with';

# --- the same catalogue again: nothing to pay for

$mock->reset;
($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out',
                        $index, '--embedder', 'openai', '--endpoint',
                        $mock->url, '--model', 'mock-64');
is $rc, 0, 'a rebuild of the same catalogue';
like $err, qr/all 50 vectors from the checkpoint, nothing embedded/,
    'takes every vector from the checkpoint';
is $mock->stats->{requests}, 0, 'and sends nothing';

# one product changed: only that one is embedded again
open my $in, '<', $catalog or die $!;
open my $chg, '>', "$tmp/changed.jsonl" or die $!;
while (<$in>) {
    s/"title":"Stridewell Glide 4 /"title":"Stridewell Glide 5 / if /shoe-001/;
    print $chg $_;
}
close $chg;

$mock->reset;
($rc, $out, $err) = run($cli, 'build', '--catalog', "$tmp/changed.jsonl",
                        '--out', $index, '--embedder', 'openai',
                        '--endpoint', $mock->url, '--model', 'mock-64');
is $rc, 0, 'a rebuild after one product changed';
like $err, qr/ 1 items embedded .* 49 from the checkpoint/,
    'embeds that product alone';
like $mock->log->[0][1], qr/^Stridewell Glide 5 /, 'with its new text';

# another model: the checkpoint is worth nothing
$mock->reset;
($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out',
                        $index, '--embedder', 'openai', '--endpoint',
                        $mock->url, '--model', 'mock-64-v2');
is $rc, 0, 'a rebuild with another model';
like $err, qr/50 items embedded .* \(that of another model was dropped\)/,
    'embeds everything again';

# --- the API key

fresh(api_key => 'sk-test-123');
($dir, $rc, $out, $err) = build($mock->url);
is $rc, 1, 'an endpoint that wants a key fails without one';
like $err, qr/recsys-index build: batch \d+ \(items \d+-\d+\): HTTP 401: .*invalid API key/,
    'with the status and the server\'s message';
unlike $err, qr/retrying/, 'a 401 is not retried';

open my $key, '>', "$tmp/key" or die $!;
print $key "sk-test-123\n";
close $key;
($dir, $rc, $out, $err) = build($mock->url, '--api-key-file', "$tmp/key");
is $rc, 0, '--api-key-file sends the key' or diag $err;
unlike encode_json(manifest($dir)), qr/sk-test/, 'which no manifest holds';

# --- the endpoint misbehaves

fresh(mode => 'slow', slow_ms => 1500, times => 1);
my $t0 = time;
($dir, $rc, $out, $err) = build($mock->url, '--batch', 25, '--concurrency', 1,
                                '--timeout', 0.4, '--backoff', 0.05);
is $rc, 0, 'a request over --timeout is retried' or diag $err;
like $err, qr/batch 1: Operation timed out after \d+ milliseconds .*, retrying in [\d.]+s \(attempt 2 of 6\)/,
    'and the retry is reported';
ok manifest($dir), 'and the build completes';

fresh(mode => 'slow', slow_ms => 1500);
($dir, $rc, $out, $err) = build($mock->url, '--batch', 50, '--timeout', 0.3,
                                '--retries', 1, '--backoff', 0.05);
is $rc, 1, 'an endpoint slower than --timeout on every attempt fails';
like $err, qr/batch 1 \(items 1-50\): Operation timed out after \d+ milliseconds .* after 2 attempts/,
    'naming the batch and the attempts';

fresh(mode => '500');
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10, '--retries', 2,
                                '--backoff', 0.05);
is $rc, 1, 'a 500 that persists after the retries fails the build';
like $err, qr/recsys-index build: batch \d \(items \d+-\d+\): HTTP 500: \{"error":\{"message":"mock failure 500".* after 3 attempts/,
    'with the batch, the status, the body and the attempts';
ok !-e "$dir/manifest.json", 'and leaves no manifest';

fresh(mode => '503', times => 2);
($dir, $rc, $out, $err) = build($mock->url, '--batch', 25, '--concurrency', 1,
                                '--backoff', 0.05);
is $rc, 0, 'a 503 that passes is retried through';
is scalar(() = $err =~ /HTTP 503/g), 2, 'once per failed attempt';

fresh(mode => '429', retry_after => 1, times => 1);
$t0 = time;
($dir, $rc, $out, $err) = build($mock->url, '--batch', 50, '--backoff', 0.05);
my $took = time - $t0;
is $rc, 0, 'a 429 is retried' or diag $err;
like $err, qr/batch 1: HTTP 429: .*, retrying in 1\.0s \(attempt 2 of 6\)/,
    'after the Retry-After of the answer, not the shorter backoff';
cmp_ok $took, '>=', 1, 'and the build did wait that long';

fresh(mode => 'wrong-dim');
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1);
is $rc, 1, 'a vector of another size fails the build';
like $err, qr/batch 1 \(items 1-10\): item "shoe-010": the vector has 63 dimensions where the reply's others have 64/,
    'naming the item and both sizes';

fresh(mode => 'non-numeric');
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1);
is $rc, 1, 'a non-numeric value fails the build';
like $err, qr/batch 1 \(items 1-10\): item "shoe-001": the vector has a non-numeric value at position 0/,
    'naming the item and the position';

fresh(mode => 'empty-vector');
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1);
is $rc, 1, 'an empty vector fails the build';
like $err, qr/item "shoe-001": the vector is empty/, 'and says so';

fresh(mode => 'empty-data');
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1);
is $rc, 1, 'an empty "data" fails the build';
like $err, qr/batch 1 \(items 1-10\): the reply has 0 vectors for 10 inputs/,
    'and says how many were expected';

# --- the model's dimension changes between two runs of one build

fresh(mode => '500', after => 20);
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1, '--retries', 0);
is $rc, 1, 'a build stopped by a failure after 20 items';

fresh(dim => 32);
($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out', $dir,
                        '--embedder', 'openai', '--endpoint', $mock->url,
                        '--model', 'mock-64');
is $rc, 1, 'resumed against a model now 32-dimensional, it fails';
like $err, qr/the model returned 32 dimensions, but ".*embeddings\.ckpt" holds its earlier 64-dimensional vectors: the model's dimension changed/,
    'saying which dimension the checkpoint holds';

# --- interrupted halfway, resumed, nothing embedded twice

# by a failure that persists after 20 items
fresh(mode => '500', after => 20);
($dir, $rc, $out, $err) = build($mock->url, '--batch', 10,
                                '--concurrency', 1, '--retries', 1,
                                '--backoff', 0.05);
is $rc, 1, 'a build failing after 20 items';
is $mock->stats->{texts}, 20, 'had 20 texts embedded';

$mock->control();
($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out', $dir,
                        '--embedder', 'openai', '--endpoint', $mock->url,
                        '--model', 'mock-64', '--batch', 10);
is $rc, 0, 'the same command resumes it' or diag $err;
like $err, qr/30 items embedded .* 20 from the checkpoint/,
    'embedding only the 30 left';
$stats = $mock->stats;
is_deeply [@$stats{qw(texts unique max_per_text)}], [50, 50, 1],
    'over both runs, each product was embedded exactly once';

# by SIGTERM while requests are in flight
fresh(latency_ms => 300);
$dir = "$tmp/idx" . ++$n;
my $pid = fork // die "fork: $!";

if ($pid == 0) {
    open STDERR, '>', "$tmp/term.err" or POSIX::_exit(127);
    open STDOUT, '>', '/dev/null';
    { exec $cli, 'build', '--catalog', $catalog, '--out', $dir,
           '--embedder', 'openai', '--endpoint', $mock->url,
           '--model', 'mock-64', '--batch', 5, '--concurrency', 2; }
    POSIX::_exit(127);
}

my $deadline = time + 20;
sleep 0.05 while $mock->stats->{texts} < 15 && time < $deadline;
kill 'TERM', $pid;
waitpid $pid, 0;
$rc = $? >> 8;
$err = do { local $/; open my $fh, '<', "$tmp/term.err" or die $!; <$fh> };

is $rc, 1, 'SIGTERM stops a build with an error status';
like $err, qr/interrupted: (\d+) of 50 texts embedded and kept in the checkpoint; run the same command again to resume/,
    'after the requests in flight have come back';
my ($kept) = $err =~ /interrupted: (\d+) of 50/;
my $embedded = $mock->stats->{texts};
is $kept, $embedded, 'everything the mock embedded is in the checkpoint';
cmp_ok $kept, '<', 50, 'and the build had not finished';
ok !-e "$dir/manifest.json", 'no manifest from the interrupted build';

$mock->control();
($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out', $dir,
                        '--embedder', 'openai', '--endpoint', $mock->url,
                        '--model', 'mock-64', '--batch', 5);
is $rc, 0, 'the same command resumes it' or diag $err;
like $err, qr/ (\d+) items embedded .* $kept from the checkpoint/,
    'starting from the checkpoint';
$stats = $mock->stats;
is_deeply [@$stats{qw(texts unique max_per_text)}], [50, 50, 1],
    'over both runs, each product was embedded exactly once';
($rc, $out) = run($cli, 'query', $dir, 'chef knife', '--k', 1);
like $out, qr/"id":"knife-00\d"/, 'and the resumed index answers';

# --- usage and templates

($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out',
                        "$tmp/u1", '--embedder', 'openai', '--model', 'm');
is $rc, 2, '--embedder openai without --endpoint is a usage error';
like $err, qr/--embedder openai needs --endpoint and --model/, 'says so';

($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out',
                        "$tmp/u2", '--endpoint', $mock->url);
is $rc, 2, '--endpoint without --embedder openai is a usage error';

($rc, $out, $err) = run($cli, 'build', '--catalog', $catalog, '--out',
                        "$tmp/u3", '--embedder', 'word2vec');
is $rc, 2, 'an unknown embedder is a usage error';
like $err, qr/invalid value "word2vec" for --embedder/, 'naming it';

fresh();
($dir, $rc, $out, $err) = build($mock->url, '--text-template', '{{#title}}');
is $rc, 1, 'a broken text template fails';
like $err, qr/--text-template:1: unclosed section "title"/,
    'with the template engine\'s message';

($dir, $rc, $out, $err) = build($mock->url, '--text-template',
                                '{{titel}}');
is $rc, 1, 'a template that yields nothing fails';
like $err, qr/the text template gives item "shoe-001" \(line 1\) nothing to embed/,
    'before anything is sent';
is $mock->stats->{requests}, 0, 'nothing was sent';

($dir, $rc, $out, $err) = build($mock->url, '--text-template',
                                '{{title}} ({{brand}}, {{color}})');
is $rc, 0, 'a custom template';
like $mock->log->[0][1],
    qr/^Stridewell Glide 4 Men's Cushioned Running Shoes \(Stridewell, Black\)$/,
    'is what the model receives, any catalogue field included';

done_testing();
