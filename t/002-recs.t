# Recommendations: the JSON answer, search, cold start and more-like-this.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3 + 2);

no_long_string();
run_tests();

__DATA__

=== TEST 1: a query answers JSON with the documented fields
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&k=1
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like eval
qr/^\{"query":"running shoes","items":\[\{"id":"shoe-\d+","title":"[^"]+","brand":"[^"]+","category":"Shoes > [^"]+","price":\d+\.\d+,"currency":"USD","in_stock":(?:true|false|null),"url":"https:[^"]+","image":"https:[^"]+","score":[\d.]+,"price_display":"\$\d+\.\d\d",.*"reason":"Running[^"]*"\}\],"count":1,"profile":"default","strategy":"search","embed_source":"builtin","took_ms":[\d.]+,"index_version":"[0-9a-f]{16}","understood":\{"category":"Shoes > Running"\},"narrative":\{"summary":"Picks for \xe2\x80\x9crunning shoes\xe2\x80\x9d: 1 item from [^"]+, at \$\d+\.\d\d\.","source":"template","version":1\}\}\n\z/
--- no_error_log
[error]



=== TEST 2: running shoes come first for a running shoes query
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 4;
    }
--- request
GET /recs?q=running%20shoes
--- response_body_like eval
qr/^\{"query":"running shoes","items":\[(?:\{"id":"shoe-[^}]+"category":"Shoes > [^"]*Running"[^}]*\}[^\]]*){4}\],"count":4,/
--- no_error_log
[error]



=== TEST 3: no query and no item is the popular in-stock answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?k=4
--- response_body_like eval
qr/^\{"query":null,"items":\[\{"id":"shoe-001".*\{"id":"hp-001".*\{"id":"cook-001".*\{"id":"shoe-009".*\],"count":4,"profile":"default","strategy":"popular"/
--- no_error_log
[error]



=== TEST 4: the cold-start answer leaves out what is out of stock
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?k=10
--- response_body_unlike chomp
"id":"lap-002"
--- error_code: 200
--- no_error_log
[error]



=== TEST 5: a query with nothing to embed falls back to popular
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=%21%21%21&k=1
--- response_body_like chomp
^\{"query":"!!!","items":\[\{"id":"shoe-001".*"strategy":"popular"
--- no_error_log
[error]



=== TEST 6: more like this never returns the item itself
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=shoe-001&k=20
--- response_body_unlike chomp
"id":"shoe-001"
--- error_code: 200
--- no_error_log
[error]



=== TEST 7: more like this finds the item's neighbours
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=cm-001&k=3
--- response_body_like eval
qr/^\{"query":null,"items":\[(?:\{"id":"cm-00[234]",.*){3}"count":3,"profile":"default","strategy":"search"/s
--- no_error_log
[error]



=== TEST 8: recsys_item takes the id from a captured variable
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location ~ ^/similar/(?<sku>[^/]+)$ {
        recsys;
        recsys_item $sku;
        recsys_k 3;
    }
--- request
GET /similar/lap-001
--- response_body_like chomp
^\{"query":null,"items":\[\{"id":"lap-00[2-4]".*"count":3,"profile":"default","strategy":"search"
--- no_error_log
[error]



=== TEST 9: recsys_query takes the text from a header
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_query $http_x_search;
        recsys_k 1;
    }
--- request
GET /recs?q=laptop
--- more_headers
X-Search: espresso machine
--- response_body_like chomp
^\{"query":"espresso machine","items":\[\{"id":"cm-
--- no_error_log
[error]



=== TEST 10: the k argument overrides recsys_k
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_k 2;
    }
--- request
GET /recs?q=shoes&k=5
--- response_body_like chomp
"count":5,
--- no_error_log
[error]



=== TEST 11: explain=1 adds the score parts
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=yoga+mat&k=1&explain=1
--- response_body_like chomp
"explain":\{"relevance":[\d.]+,"signals":\{"relevance":\{"value":[\d.]+,"weight":1\.0,"contribution":[\d.]+\},"popularity":\{"value":[\d.]+,"weight":0\.1,"contribution":[\d.]+\},"rating":\{[^}]+\},"margin":\{[^}]+\},"freshness":\{[^}]+\},"personal":\{[^}]+\}\},"factor":1\.0,"rules":\[[^\]]*\]\}
--- no_error_log
[error]



=== TEST 12: pass-through attributes and tags come back
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=shoe-002&k=50
--- response_body_like chomp
\{"id":"shoe-001",[^}]*"tags":\["cushioned","neutral","road"\],"attributes":\{"color":"Black","size_us":10\},"reason":"Running \xc2\xb7 rated 4\.6 by 1284 shoppers \xc2\xb7 in stock"\}
--- no_error_log
[error]



=== TEST 13: UTF-8 titles and markup stay intact JSON strings
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=cr%C3%A8me+br%C3%BBl%C3%A9e+torch&k=1
--- response_body_like chomp
^\{"query":"crème brûlée torch","items":\[\{"id":"cook-005","title":"Kitchenry Crème Brûlée Torch"
--- no_error_log
[error]



=== TEST 14: HEAD answers the headers only
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
HEAD /recs?q=tent
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body
--- no_error_log
[error]



=== TEST 15: the price of an item is exact to the cent
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=shoe-002&k=50
--- response_body_like chomp
\{"id":"shoe-001","title":"Stridewell Glide 4 Men's Cushioned Running Shoes","brand":"Stridewell","category":"Shoes > Running","price":89.99,"currency":"USD","in_stock":true,
--- no_error_log
[error]
