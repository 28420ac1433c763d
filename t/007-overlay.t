# The catalogue overlay: recsys_catalog_patch writes price and stock
# overrides to a shared memory zone, and every worker's filters, ranking
# and rendering see them at once.  Two workers run every block, so the
# requests after a patch land on both.
#
# Every block names its own zone: with TEST_NGINX_USE_HUP a zone of the
# same name and size would keep the previous block's overrides (an
# overlay survives a reload).  The repetitions of a block share one nginx,
# so the expectations hold whether or not the block's patch is already in.

use Test::Nginx::Socket;
use File::Temp qw(tempdir);
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

# an index too large for the smallest zone (1000 items need 64 KB)
my $cli = $ENV{TEST_NGINX_CLI} || cwd() . '/build/recsys-index';
my $tmp = tempdir(CLEANUP => 1);

system("'$cli' gen --n 1000 --seed 7 --out '$tmp/catalog.jsonl' "
       . "&& '$cli' build --catalog '$tmp/catalog.jsonl' --out '$tmp/big' "
       . "--quiet") == 0
    or die "cannot build the 1000-item index with $cli";

$ENV{TEST_NGINX_BIG_INDEX} = "$tmp/big";

# 1000 changes, pretty-printed: about 60 KB, so nginx buffers the body to
# a temporary file and the handler reads it back from there
my $batch = "[\n" . join(",\n", map {
    sprintf '    {"id": "shoe-%03d", "stock": %d}', $_ % 10 + 1, 5 + $_ % 7
} 0 .. 999) . "\n]";
$ENV{TEST_NGINX_BATCH} = $batch;    # for the eval'd requests below

master_on();
workers(2);
repeat_each(2);

plan tests => repeat_each() * 165;

no_long_string();
run_tests();

__DATA__

=== TEST 1: a price patch is in the next answer of every worker
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t1:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        allow 127.0.0.1;
        deny all;
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n{"id": "shoe-001", "price": 79.99}},
    "GET /recs?item=shoe-002&k=50",
    "GET /recs?item=shoe-002&k=50",
    "GET /recs?item=shoe-002&k=50",
    "GET /recs?item=shoe-002&k=50",
    "GET /recs?item=shoe-002&k=50",
]
--- response_body_like eval
[
    '^\{"applied":1,"index_version":"[0-9a-f]{16}"\}$',
    '"id":"shoe-001",[^}]*"price":79\.99,',
    '"id":"shoe-001",[^}]*"price":79\.99,',
    '"id":"shoe-001",[^}]*"price":79\.99,',
    '"id":"shoe-001",[^}]*"price":79\.99,',
    '"id":"shoe-001",[^}]*"price":79\.99,',
]
--- no_error_log
[error]



=== TEST 2: the applied batch is logged at info level
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t2:1m;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request
POST /patch
{"id": "shoe-001", "price": 79.99}
--- response_body_like chomp
^\{"applied":1,"index_version":"[0-9a-f]{16}"\}$
--- error_log eval
qr/\[info\] .*recsys: catalog patch: 1 change applied, index version [0-9a-f]{16}/
--- no_error_log
[error]



=== TEST 3: stock 0 leaves in_stock=1 answers and the cold-start answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t3:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n{"id": "shoe-001", "stock": 0}},
    "GET /recs?item=shoe-002&k=50&in_stock=1",
    "GET /recs?item=shoe-002&k=50",
    "GET /recs",
]
--- response_body_like eval
[
    '^\{"applied":1,',
    '^(?!.*"id":"shoe-001").*"count":\d+,',
    '"id":"shoe-001",[^}]*"in_stock":false,',
    '^\{"query":null,"items":\[\{"id":"hp-001",(?!.*"id":"shoe-001")',
]
--- no_error_log
[error]



=== TEST 4: stock back above 0 returns the item to the cold-start answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t4:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n{"id": "lap-002", "stock": 3}},
    "GET /recs?k=3",
]
--- response_body_like eval
[
    '^\{"applied":1,',
    '^\{"query":null,"items":\[\{"id":"shoe-001",(?:(?!"id":).)*\},\{"id":"lap-002",',
]
--- no_error_log
[error]



=== TEST 5: an array batch; prices feed the max_price filter
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t5:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n[{"id": "shoe-003", "price": 49.99},
                     {"id": "shoe-001", "price": 150}]},
    "GET /recs?q=running+shoes&category=Shoes+%3E+Running&max_price=100&k=20",
    "GET /recs?q=running+shoes&category=Shoes+%3E+Running&min_price=120&k=20",
]
--- response_body_like eval
[
    '^\{"applied":2,"index_version":"[0-9a-f]{16}"\}$',
    '^(?!.*"id":"shoe-001").*"id":"shoe-003",[^}]*"price":49\.99,',
    '^(?!.*"id":"shoe-003").*"id":"shoe-001",[^}]*"price":150\.0,',
]
--- no_error_log
[error]



=== TEST 6: a stock patch keeps an earlier price override; null drops it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t6:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n{"id": "shoe-001", "price": 70}},
    qq{POST /patch\n{"id": "shoe-001", "stock": 0}},
    "GET /recs?item=shoe-002&k=50",
    qq{POST /patch\n{"id": "shoe-001", "price": null, "stock": null}},
    "GET /recs?item=shoe-002&k=50",
]
--- response_body_like eval
[
    '^\{"applied":1,',
    '^\{"applied":1,',
    '"id":"shoe-001",[^}]*"price":70\.0,[^}]*"in_stock":false,',
    '^\{"applied":1,',
    '"id":"shoe-001",[^}]*"price":89\.99,[^}]*"in_stock":true,',
]
--- no_error_log
[error]



=== TEST 7: the same id twice in a batch: the later change wins
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t7:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n[{"id": "shoe-001", "price": 10, "stock": 0},
                     {"id": "shoe-001", "price": 20}]},
    "GET /recs?item=shoe-002&k=50",
]
--- response_body_like eval
[
    '^\{"applied":2,',
    '"id":"shoe-001",[^}]*"price":20\.0,[^}]*"in_stock":false,',
]
--- no_error_log
[error]



=== TEST 8: an unknown id refuses the whole batch
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t8:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n[{"id": "shoe-001", "price": 1.5},
                     {"id": "no-such-item", "stock": 3}]},
    "GET /recs?item=shoe-002&k=50",
]
--- error_code eval
[400, 200]
--- response_body_like eval
[
    '^\{"error":\{"code":"unknown_item","message":"element 1: no item with id \\\\"no-such-item\\\\" in the catalog"\}\}$',
    '"id":"shoe-001",[^}]*"price":89\.99,',
]
--- no_error_log
[error]



=== TEST 9: wrong types, unknown keys and missing fields: 400, nothing applied
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t9:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq{POST /patch\n{"id": "shoe-001", "stock": "5"}},
    qq{POST /patch\n{"id": "shoe-001", "stock": 1.5}},
    qq{POST /patch\n{"id": "shoe-001", "stock": -1}},
    qq{POST /patch\n{"id": "shoe-001", "price": "79.99"}},
    qq{POST /patch\n{"id": "shoe-001", "price": -0.01}},
    qq{POST /patch\n{"id": 1, "price": 1}},
    qq{POST /patch\n{"price": 1}},
    qq{POST /patch\n{"id": "shoe-001"}},
    qq{POST /patch\n{"id": "shoe-001", "price": 1, "colour": "red"}},
    qq{POST /patch\n[{"id": "shoe-001", "price": 1}, {"id": "shoe-002", "price": true}]},
    qq{POST /patch\n[{"id": "shoe-001", "price": 1}, "shoe-002"]},
    qq{POST /patch\n"shoe-001"},
    qq{POST /patch\n[]},
    "GET /recs?item=shoe-002&k=50",
]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 200]
--- response_body eval
[
    qq|{"error":{"code":"invalid_patch","message":"\\"stock\\" must be an integer >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"stock\\" must be an integer >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"stock\\" must be an integer >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"price\\" must be a number >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"price\\" must be a number >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"id\\" must be a string"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"\\"id\\" is missing"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"neither \\"price\\" nor \\"stock\\" is given"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"unknown key \\"colour\\""}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"element 1: \\"price\\" must be a number >= 0, or null"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"element 1: not an object"}}\n|,
    qq|{"error":{"code":"invalid_json","message":"the body is not valid JSON: line 1, column 10: '[' or '{' expected near '\\"shoe-001\\"'"}}\n|,
    qq|{"error":{"code":"invalid_patch","message":"the array is empty"}}\n|,
    qr/"id":"shoe-001",[^}]*"price":89\.99,[^}]*"in_stock":true,/,
]
--- no_error_log
[error]



=== TEST 10: a bad patch is logged at info level, not as an error
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t10:1m;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request
POST /patch
{"id": "no-such-item", "price": 1}
--- error_code: 400
--- response_body
{"error":{"code":"unknown_item","message":"no item with id \"no-such-item\" in the catalog"}}
--- error_log eval
qr/\[info\] .*recsys: catalog patch refused: no item with id "no-such-item" in the catalog/
--- no_error_log
[error]



=== TEST 11: not JSON, an empty body, a duplicate key
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t11:1m;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    "POST /patch\nid=shoe-001&price=1",
    "POST /patch",
    qq{POST /patch\n{"id": "shoe-001", "price": 1, "price": 2}},
]
--- error_code eval
[400, 400, 400]
--- response_body eval
[
    qq|{"error":{"code":"invalid_json","message":"the body is not valid JSON: line 1, column 2: '[' or '{' expected near 'id'"}}\n|,
    qq|{"error":{"code":"invalid_json","message":"the body is empty"}}\n|,
    qr/^\{"error":\{"code":"invalid_json","message":"the body is not valid JSON: .*duplicate object key/,
]
--- no_error_log
[error]



=== TEST 12: a body over 512 KB, with a length or chunked; over 1000 changes
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t12:1m;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request eval
[
    qq|POST /patch\n[{"id": "shoe-001", "price": 1, "pad": "| . ("x" x 524288) . '"}]',
    "POST /patch\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", 524289, "[" x 524289),
    "POST /patch\n[" . CORE::join(",", (qq{{"id": "shoe-001", "stock": 1}}) x 1001) . "]",
]
--- more_headers eval
["", "Transfer-Encoding: chunked", ""]
--- error_code eval
[400, 400, 400]
--- response_body eval
[
    qq|{"error":{"code":"body_too_large","message":"the body is larger than 524288 bytes"}}\n|,
    qq|{"error":{"code":"body_too_large","message":"the body is larger than 524288 bytes"}}\n|,
    qq|{"error":{"code":"too_many_patches","message":"1001 changes, at most 1000 in one request"}}\n|,
]
--- no_error_log
[error]



=== TEST 13: a batch of 1000 changes, read back from nginx's temporary file
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t13:1m;
--- config
    location = /recs {
        recsys;
    }
    location = /patch {
        client_body_buffer_size 8k;
        recsys_catalog_patch;
    }
--- request eval
[
    "POST /patch\n" . $ENV{TEST_NGINX_BATCH},
    "GET /recs?item=shoe-011&k=50&in_stock=1",
]
--- response_body_like eval
[
    '^\{"applied":1000,"index_version":"[0-9a-f]{16}"\}$',
    '"id":"shoe-006",',
]
--- no_error_log
[error]



=== TEST 14: GET is refused with a 405 naming POST
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t14:1m;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request
GET /patch
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json; charset=utf-8
--- response_body
{"error":{"code":"method_not_allowed","message":"only POST is allowed"}}
--- no_error_log
[error]



=== TEST 15: a zone too small for the index: logged once, patches get a 503
--- http_config
    recsys_index $TEST_NGINX_BIG_INDEX;
    recsys_overlay_zone t15:32k;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- request
POST /patch
{"id": "SKU-000001", "price": 1}
--- error_code: 503
--- response_body
{"error":{"code":"overlay_unavailable","message":"recsys_overlay_zone \"t15\" is too small for the index"}}
--- grep_error_log eval
qr/\[error\] .*recsys_overlay_zone "t15" is too small for 1000 items, needs at least \d+k; running without the overlay/
--- grep_error_log_out eval
[qr/^.*recsys_overlay_zone "t15" is too small for 1000 items.*\n\z/, ""]
--- no_error_log
[crit]



=== TEST 16: recsys_catalog_patch needs a recsys_overlay_zone
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /patch {
        recsys_catalog_patch;
    }
--- must_die
--- error_log
"recsys_catalog_patch" needs a "recsys_overlay_zone" in the http block



=== TEST 17: recsys_overlay_zone without a size
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t17;
--- config
--- must_die
--- error_log
invalid zone size "t17"



=== TEST 18: recsys_overlay_zone smaller than 8 pages
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t18:16k;
--- config
--- must_die
--- error_log
zone "t18:16k" is too small



=== TEST 19: recsys_overlay_zone twice
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t19:1m;
    recsys_overlay_zone t19b:1m;
--- config
--- must_die
--- error_log
"recsys_overlay_zone" directive is duplicate



=== TEST 20: recsys_catalog_patch and recsys in one location
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_overlay_zone t20:1m;
--- config
    location = /patch {
        recsys;
        recsys_catalog_patch;
    }
--- must_die
--- error_log
"recsys_catalog_patch" and "recsys" cannot be in the same location
