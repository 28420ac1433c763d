# An index embedded by an external model (recsys-index build --embedder
# openai, against the mock of t/embed-mock.pl): it loads and answers
# through its lexical companion, item= uses the model's stored vectors,
# and an index whose embedder the module cannot reproduce fails nginx -t.

use Test::Nginx::Socket;
use Cwd qw(cwd);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use JSON::PP;
use RecsysEmbedMock;

my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $data = $ENV{TEST_NGINX_DATA} || cwd() . '/t/data';
my $tmp = tempdir(CLEANUP => 1);

my $mock = RecsysEmbedMock->new(dim => 48)->start;

system($cli, 'build', '--catalog', "$data/catalog.jsonl", '--out',
       "$tmp/model", '--embedder', 'openai', '--endpoint', $mock->url,
       '--model', 'mock-embed', '--batch', 16, '--quiet',
       '--text-template', '{{title}}. {{category}}') == 0
    or die "recsys-index build --embedder openai failed\n";

$mock->stop;

# copies whose manifest names an embedder the module cannot reproduce
my %broken = (
    unknown => sub { $_[0]{embedder}{type} = 'sentencepiece' },
    nocompanion => sub { delete $_[0]{embedder}{companion} },
    companiondim => sub { $_[0]{embedder}{companion}{dim} = 128 },
);

for my $name (sort keys %broken) {
    mkdir "$tmp/$name";
    copy("$tmp/model/$_", "$tmp/$name/$_") or die "copy $_: $!"
        for qw(manifest.json items.bin embedder.bin index.faiss
               index-lexical.faiss vocab.bin);

    my $m = decode_json(do {
        local $/;
        open my $fh, '<', "$tmp/$name/manifest.json" or die $!;
        <$fh>;
    });

    $broken{$name}->($m);

    open my $fh, '>', "$tmp/$name/manifest.json" or die $!;
    print $fh JSON::PP->new->canonical->encode($m);
    close $fh;
}

$ENV{TEST_NGINX_MODEL_INDEX} = "$tmp/model";
$ENV{TEST_NGINX_UNKNOWN_INDEX} = "$tmp/unknown";
$ENV{TEST_NGINX_NOCOMPANION_INDEX} = "$tmp/nocompanion";
$ENV{TEST_NGINX_COMPANIONDIM_INDEX} = "$tmp/companiondim";

repeat_each(1);

# three blocks with a request (3 tests each), three must_die blocks (2)
plan tests => repeat_each() * (3 * 3 + 3 * 2);

no_long_string();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a model's index answers a query through its lexical companion
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 4;
    }
--- request
GET /recs?q=running+shoes
--- error_code: 200
--- response_body_like eval
qr/^\{"query":"running shoes","items":\[(?:\{"id":"shoe-[^}]+"category":"Shoes > [^"]*Running"[^}]*\}[^\]]*){4}\],"count":4,"profile":"default","strategy":"search"/
--- no_error_log
[error]



=== TEST 2: more like this uses the model's stored vectors
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 3;
    }
--- request
GET /recs?item=lap-001
--- error_code: 200
--- response_body_like eval
qr/^\{"query":null,"items":\[(?!\{"id":"lap-001")\{"id":"lap-00[2-4]".*"count":3,"profile":"default","strategy":"search"/
--- no_error_log
[error]



=== TEST 3: loading says who embedded the index and how queries are served
--- http_config
    recsys_index $TEST_NGINX_MODEL_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?k=2
--- error_code: 200
--- error_log eval
qr/recsys_index ".*model": 50 items, version [0-9a-f]{16}, flat index embedded by model "mock-embed" at 127\.0\.0\.1:\d+ \(dim 48\); queries without a vector from recsys_embed_location go to its lexical companion \(dim 256\)/
--- no_error_log
[error]



=== TEST 4: an embedder type the module does not know fails nginx -t
--- config
    location = /recs {
        recsys_index $TEST_NGINX_UNKNOWN_INDEX;
        recsys;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*recsys_index ".*unknown" cannot be loaded: .*embedder type "sentencepiece", which this module cannot reproduce for queries/



=== TEST 5: a model's index without its lexical companion fails nginx -t
--- config
    location = /recs {
        recsys_index $TEST_NGINX_NOCOMPANION_INDEX;
        recsys;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*built with the openai embedder \(model "mock-embed"\) but has no lexical companion index/



=== TEST 6: a companion whose dimension disagrees fails nginx -t
--- config
    location = /recs {
        recsys_index $TEST_NGINX_COMPANIONDIM_INDEX;
        recsys;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*the lexical companion index has dimension 256, its embedder 256 and the manifest 128/
