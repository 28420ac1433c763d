# Filters from request arguments, and the widening search behind them.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3);

no_long_string();
run_tests();

__DATA__

=== TEST 1: max_price keeps items at or under the bound
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&category=Shoes+%3E+Running&max_price=99.99&k=20
--- response_body_like eval
qr/^(?!.*"price":\d{3,}\.)(?!.*"id":"shoe-0(?:03|05|07|09|11)").*"count":6,/s
--- no_error_log
[error]



=== TEST 2: a price bound is inclusive: 100.00 is not under 99.99 but is under 100
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&category=Shoes+%3E+Running&min_price=100&max_price=100
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-007",.*\}\],"count":1,
--- no_error_log
[error]



=== TEST 3: min_price leaves out the cheaper items
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&min_price=200&k=20
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"[^"]+"[^\]]*"price":(?:[2-9]\d\d|\d{4,})\.
--- no_error_log
[error]



=== TEST 4: in_stock=1 leaves out stock 0 and unknown stock
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&in_stock=1&k=50
--- response_body_unlike chomp
"in_stock":(?:false|null)
--- no_error_log
[error]



=== TEST 5: without in_stock the out-of-stock items may appear
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=stridewell+cadence+running+shoes&k=1
--- response_body_like chomp
^\{"query":"stridewell cadence running shoes","items":\[\{"id":"shoe-006",[^}]*"in_stock":false,
--- no_error_log
[error]



=== TEST 6: category is a prefix of whole path levels, case-insensitive
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&category=home&k=50
--- response_body_unlike chomp
"category":"(?!Home)
--- no_error_log
[error]



=== TEST 7: a partial level name matches nothing
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&category=Sho
--- response_body_like chomp
^\{"query":"shoes","items":\[\],"count":0,"profile":"default","strategy":"search"
--- no_error_log
[error]



=== TEST 8: brand keeps one brand, case-insensitive
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&brand=stridewell&k=10
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-00[16]".*\{"id":"shoe-00[16]".*\],"count":2,
--- no_error_log
[error]



=== TEST 9: filters apply to the cold-start answer too
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?category=Electronics&k=1
--- response_body_like chomp
^\{"query":null,"items":\[\{"id":"hp-001".*"strategy":"popular"
--- no_error_log
[error]



=== TEST 10: a selective filter widens the candidate search
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_candidates 2;
        recsys_k 3;
    }
--- request
GET /recs?q=running+shoes&category=Books
--- response_body_like eval
qr/^(?!.*"category":"(?!Books))(?=(?:.*?"category":"Books){3}).*"count":3,/s
--- no_error_log
[error]



=== TEST 11: filters combine
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&category=Shoes+%3E+Running&max_price=99.99&in_stock=true&k=20
--- response_body_like eval
qr/^(?!.*"in_stock":(?:false|null))(?!.*"price":\d{3,}\.)(?!.*"id":"shoe-0(?:03|05|06|07|08|09|11)").*"count":4,/s
--- no_error_log
[error]



=== TEST 12: tag keeps items with that tag
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&tag=vegan&k=10
--- response_body_like chomp
^\{"query":"shoes","items":\[\{"id":"shoe-010",.*\],"count":1,
--- no_error_log
[error]



=== TEST 13: min_rating leaves out lower-rated and unrated items
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&min_rating=4.7&k=50
--- response_body_like eval
qr/^(?!.*"rating":4\.[0-6]\b)(?!.*"rating":[0-3]\.)(?=.*"rating":4\.[789])/s
--- no_error_log
[error]
