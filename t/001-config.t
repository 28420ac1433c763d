# Configuration: every mistake fails "nginx -t" with a clear message.

use Test::Nginx::Socket;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

# copies of the fixture index, broken in the ways a deploy can break them
my $tmp = tempdir(CLEANUP => 1);
for my $name (qw(corrupt future)) {
    mkdir "$tmp/$name";
    copy("$ENV{TEST_NGINX_INDEX}/$_", "$tmp/$name/$_") or die "copy $_: $!"
        for qw(manifest.json items.bin embedder.bin index.faiss);
}

open my $fh, '+<', "$tmp/corrupt/items.bin" or die $!;
seek $fh, 300, 0;
print $fh "\xff\xfe\xfd";
close $fh;

open $fh, '<', "$tmp/future/manifest.json" or die $!;
my $manifest = do { local $/; <$fh> };
close $fh;
$manifest =~ s/"format_version": 1/"format_version": 99/ or die "no version";
open $fh, '>', "$tmp/future/manifest.json" or die $!;
print $fh $manifest;
close $fh;

$ENV{TEST_NGINX_CORRUPT_INDEX} = "$tmp/corrupt";
$ENV{TEST_NGINX_FUTURE_INDEX} = "$tmp/future";

repeat_each(1);

plan tests => repeat_each() * (blocks() * 2 + 2);

no_long_string();
run_tests();

__DATA__

=== TEST 1: recsys without an index fails nginx -t
--- config
    location = /recs {
        recsys;
    }
--- must_die
--- error_log
"recsys" needs a "recsys_index" in this location or above it



=== TEST 2: a missing index directory fails nginx -t
--- config
    location = /recs {
        recsys_index /nonexistent/recsys-index;
        recsys;
    }
--- must_die
--- error_log
recsys_index "/nonexistent/recsys-index" cannot be loaded: cannot read "/nonexistent/recsys-index/manifest.json"



=== TEST 3: a corrupt item store fails its checksum
--- config
    location = /recs {
        recsys_index $TEST_NGINX_CORRUPT_INDEX;
        recsys;
    }
--- must_die
--- error_log eval
qr/items\.bin" does not match its checksum in the manifest/



=== TEST 4: an index of another format version is refused
--- config
    location = /recs {
        recsys_index $TEST_NGINX_FUTURE_INDEX;
        recsys;
    }
--- must_die
--- error_log
index format version 99 is not supported



=== TEST 5: recsys_index twice in one block
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys_index $TEST_NGINX_INDEX;
        recsys;
    }
--- must_die
--- error_log
"recsys_index" directive is duplicate



=== TEST 6: recsys twice in one location
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys;
    }
--- must_die
--- error_log
"recsys" directive is duplicate



=== TEST 7: recsys_k above 100
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_k 101;
    }
--- must_die
--- error_log
invalid value "101" in "recsys_k" directive, it must be a number from 1 to 100



=== TEST 8: recsys_k that is not a number
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_k many;
    }
--- must_die
--- error_log
invalid value "many" in "recsys_k" directive, it must be a number from 1 to 100



=== TEST 9: recsys_candidates of zero
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_candidates 0;
    }
--- must_die
--- error_log
invalid value "0" in "recsys_candidates" directive, it must be a number from 1 to 10000



=== TEST 10: recsys_k twice in one location
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_k 4;
        recsys_k 5;
    }
--- must_die
--- error_log
"recsys_k" directive is duplicate



=== TEST 11: recsys outside a location
--- http_config
    recsys;
--- config
--- must_die
--- error_log
"recsys" directive is not allowed here



=== TEST 12: an index named at http level serves every location, loaded once
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /a {
        recsys;
    }
    location = /b {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
    }
--- request
GET /b?q=skillet&k=1
--- error_code: 200
--- response_body_like: "count":1,
--- error_log eval
qr/recsys_index "[^"]+": 50 items, version [0-9a-f]{16}, flat index/
--- no_error_log
[error]
