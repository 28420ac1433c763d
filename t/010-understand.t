# Query understanding: prices, brands, categories and exclusions read from
# the text become filters, leave the embedded text and are echoed back.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3);

no_long_string();
run_tests();

__DATA__

=== TEST 1: "under $100" becomes max_price and is echoed
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes+under+%24100&k=20
--- response_body_like eval
qr/^(?!.*"price":(?:10[1-9]|1[1-9]\d|[2-9]\d\d|\d{4,})\.)(?=.*"understood":\{"max_price":100,"category":"Shoes > Running"\})/s
--- no_error_log
[error]



=== TEST 2: "between 20 and 40" gives both bounds
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=kitchen+between+20+and+40&k=20
--- response_body_like eval
qr/^(?!.*"price":(?:[0-9]|1[0-9]|4[1-9]|[5-9]\d|\d{3,})\.)(?=.*"understood":\{"min_price":20,"max_price":40)/s
--- no_error_log
[error]



=== TEST 3: "without" a brand excludes it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes+without+stridewell&k=20
--- response_body_like eval
qr/^(?!.*"brand":"Stridewell")(?=.*"exclude_brands":\["Stridewell"\])/s
--- no_error_log
[error]



=== TEST 4: a brand name in the text becomes the brand filter
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=brooks+shoes&k=5
--- response_body_like eval
qr/^\{"query":"brooks shoes","items":\[\{"id":"shoe-009",[^\]]*?"brand":"Brooks".*\],"count":1,.*"understood":\{"brand":"Brooks"/s
--- no_error_log
[error]



=== TEST 5: "100% cotton" is not a price
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=100%25+cotton+t-shirt&k=1
--- response_body_unlike
"understood":\{[^}]*price
--- no_error_log
[error]



=== TEST 6: an explicit argument wins over what the text says
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes+under+50&max_price=150&category=Shoes&k=20
--- response_body_like eval
qr/^(?=.*"price":139\.95)(?!.*"understood")/s
--- no_error_log
[error]



=== TEST 7: recsys_understand off leaves the text alone
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_understand off;
    }
--- request
GET /recs?q=running+shoes+under+50&k=20
--- response_body_like eval
qr/^(?=.*"price":(?:[5-9]\d|\d{3,})\.)(?!.*"understood")/s
--- no_error_log
[error]



=== TEST 8: a price alone is a cold-start answer within it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=under+%2430&k=3
--- response_body_like eval
qr/^(?!.*"price":(?:3[1-9]|[4-9]\d|\d{3,})\.)(?=.*"strategy":"popular")(?=.*"understood":\{"max_price":30\})/s
--- no_error_log
[error]
