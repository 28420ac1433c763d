# Bad input: a 400 with a JSON reason, an info line, never an error line.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 4);

no_long_string();
run_tests();

__DATA__

=== TEST 1: invalid UTF-8 in q
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=caf%C3%28
--- error_code: 400
--- response_body
{"error":{"code":"invalid_utf8","message":"\"q\" is not valid UTF-8"}}
--- error_log
recsys: bad request: "q" is not valid UTF-8
--- no_error_log
[error]



=== TEST 2: q longer than recsys_max_query_length
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_max_query_length 16;
    }
--- request
GET /recs?q=a+very+long+query+indeed
--- error_code: 400
--- response_body
{"error":{"code":"query_too_long","message":"\"q\" is longer than 16 bytes"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 3: q of 512 bytes is accepted by default
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request eval
"GET /recs?q=" . ("a" x 512)
--- error_code: 200
--- response_body_like chomp
"count":
--- no_error_log
[error]
bad request



=== TEST 4: q of 513 bytes is not
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request eval
"GET /recs?q=" . ("a" x 513)
--- error_code: 400
--- response_body
{"error":{"code":"query_too_long","message":"\"q\" is longer than 512 bytes"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 5: k of zero
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&k=0
--- error_code: 400
--- response_body
{"error":{"code":"invalid_k","message":"k must be an integer from 1 to 100"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 6: k above 100
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&k=101
--- error_code: 400
--- response_body
{"error":{"code":"invalid_k","message":"k must be an integer from 1 to 100"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 7: k that is not a number
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&k=-3
--- error_code: 400
--- response_body
{"error":{"code":"invalid_k","message":"k must be an integer from 1 to 100"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 8: a price that is not a number
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&max_price=cheap
--- error_code: 400
--- response_body
{"error":{"code":"invalid_price","message":"\"max_price\" must be a non-negative number"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 9: strtod's special forms are not prices
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&min_price=inf
--- error_code: 400
--- response_body
{"error":{"code":"invalid_price","message":"\"min_price\" must be a non-negative number"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 10: min_price above max_price
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&min_price=50&max_price=20
--- error_code: 400
--- response_body
{"error":{"code":"invalid_price","message":"min_price must not be greater than max_price"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 11: an unknown item id
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=no-such-sku
--- error_code: 400
--- response_body
{"error":{"code":"unknown_item","message":"no item with id \"no-such-sku\" in the catalog"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 12: a flag that is neither true nor false
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&in_stock=maybe
--- error_code: 400
--- response_body
{"error":{"code":"invalid_argument","message":"\"in_stock\" must be 1, 0, true or false"}}
--- error_log
recsys: bad request
--- no_error_log
[error]



=== TEST 13: POST is not allowed
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
POST /recs
{"q": "shoes"}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body
{"error":{"code":"method_not_allowed","message":"only GET and HEAD are allowed"}}
--- no_error_log
[error]



=== TEST 14: a user id that is not UTF-8
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=shoes&user=%FF%FE
--- error_code: 400
--- response_body
{"error":{"code":"invalid_utf8","message":"\"user\" is not valid UTF-8"}}
--- error_log
recsys: bad request
--- no_error_log
[error]
