# Profiles: weights, rules, filters, caps and diversity a merchandiser
# steers from nginx.conf, picked per request for A/B tests.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3 + 3);

no_long_string();
run_tests();

__DATA__

=== TEST 1: the answer names the profile; without one it is "default"
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=tent&k=1
--- response_body_like chomp
"count":1,"profile":"default",
--- no_error_log
[error]



=== TEST 2: recsys_use_profile with a static name
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile summer {
        weight popularity 0.5;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile summer;
    }
--- request
GET /recs?q=tent&k=1
--- response_body_like chomp
"count":1,"profile":"summer",
--- no_error_log
[error]



=== TEST 3: a pin puts an item at its position whatever the query
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        pin book-001 1;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
        recsys_understand off;
    }
--- request
GET /recs?q=running+shoes&k=3&explain=1
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"book-001",.*"rules":\[\{"rule":"pin"\}\]
--- no_error_log
[error]



=== TEST 4: a pin at position 2 leaves the first slot to the ranking
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        pin book-001 2;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
        recsys_understand off;
    }
--- request
GET /recs?q=running+shoes&k=3
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-[^"]+",.*?\},\{"id":"book-001",
--- no_error_log
[error]



=== TEST 5: block never shows a brand
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        block brand Stridewell;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?q=stridewell+running+shoes&k=50
--- response_body_unlike
"brand":"Stridewell"
--- no_error_log
[error]



=== TEST 6: boost by brand lifts its items to the top, and explain says so
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        boost brand "Tempo Labs" 3.0;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?q=running+shoes&k=1&explain=1
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-010",.*"factor":3\.0,"rules":\[\{"match":"brand","value":"Tempo Labs","rule":"boost","factor":3\.0\}\]
--- no_error_log
[error]



=== TEST 7: bury by category pushes those items down
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        bury category "Shoes > Running" 0.01;
        diversity 0;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
        recsys_understand off;
    }
--- request
GET /recs?q=running+shoes&k=1
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-0(?:05|11)",
--- no_error_log
[error]



=== TEST 8: max_per_brand caps one brand within the answer
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        max_per_category 1;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?q=running+shoes&k=5
--- response_body_unlike
"category":"Shoes > Running".*"category":"Shoes > Running"
--- no_error_log
[error]



=== TEST 9: a promotion takes its share of slots, marked sponsored
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        promote category Books 1/4;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
        recsys_understand off;
        recsys_candidates 100;
    }
--- request
GET /recs?q=running+shoes&k=4
--- response_body_like chomp
^\{"query":"running shoes","items":\[\{"id":"shoe-[^"]+",.*?\},\{"id":"book-\d+",(?:(?!\{"id").)*"sponsored":true
--- no_error_log
[error]



=== TEST 10: profile filters apply by default, request arguments override
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        filter in_stock;
        filter max_price 80;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?q=running+shoes&k=20&max_price=1000
--- response_body_like eval
qr/^(?!.*"in_stock":(?:false|null))(?=.*"price":219\.99)/s
--- no_error_log
[error]



=== TEST 11: diversity spreads the answer over categories
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        diversity 0.9;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?q=lightweight&k=3
--- response_body_like eval
qr/"category":"(?!Shoes)/
--- no_error_log
[error]



=== TEST 12: split_clients picks the profile, and $recsys_profile logs it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile control {
        weight popularity 0.1;
    }
    recsys_profile treatment {
        weight popularity 0.5;
        weight rating 0.2;
    }
    split_clients "${arg_uid}" $variant {
        50%     control;
        *       treatment;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile $variant;
        add_header X-Profile $recsys_profile always;
        add_header X-Items $recsys_items always;
    }
--- request eval
["GET /recs?q=tent&k=2&uid=a", "GET /recs?q=tent&k=2&uid=c"]
--- response_headers_like eval
["X-Profile: (?:control|treatment)\nX-Items: out-\\d+,[\\w-]+", "X-Profile: (?:control|treatment)"]
--- response_body_like eval
['"profile":"(?:control|treatment)"', '"profile":"(?:control|treatment)"']
--- no_error_log
[error]



=== TEST 13: a variable naming no profile falls back to the default
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_use_profile $arg_p;
    }
--- request
GET /recs?q=tent&k=1&p=nope
--- response_body_like chomp
"profile":"default"
--- error_log
recsys: unknown profile "nope", using the default
--- no_error_log
[error]



=== TEST 14: an unknown static profile fails nginx -t with file and line
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_use_profile nope;
    }
--- must_die
--- error_log eval
qr/unknown recsys_profile "nope" in \S+nginx\.conf:\d+/



=== TEST 15: an unknown key in a profile fails nginx -t
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        wieght popularity 0.2;
    }
--- config
--- must_die
--- error_log
unknown or malformed "wieght" in recsys_profile "p"



=== TEST 16: a bad number in a profile fails nginx -t
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        diversity 1.5;
    }
--- config
--- must_die
--- error_log
invalid value "1.5", it must be a number from 0.0000 to 1.0000



=== TEST 17: a bury factor above 1 is refused
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        bury brand Acme 2;
    }
--- config
--- must_die
--- error_log
invalid value "2", it must be a number from 0.0001 to 1.0000



=== TEST 18: exclude= leaves ids out, and ignores ids it does not know
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=running+shoes&k=20&exclude=shoe-001,shoe-002,no-such-id
--- response_body_unlike
"id":"shoe-00[12]"
--- no_error_log
[error]



=== TEST 19: several items and a negative example steer more-like-these
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=cm-001,cm-002&not=shoe-001&k=2
--- response_body_like chomp
^\{"query":null,"items":\[\{"id":"cm-00[34]",.*\{"id":"cm-00[34]",
--- no_error_log
[error]



=== TEST 20: an unknown id in not= is the client's error
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?item=cm-001&not=nope
--- error_code: 400
--- response_body
{"error":{"code":"unknown_item","message":"no item with id \"nope\" in the catalog"}}
--- no_error_log
[error]



=== TEST 21: max_per_brand keeps at most N items of one brand
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        max_per_brand 1;
        diversity 0;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
        recsys_understand off;
    }
--- request
GET /recs?q=stridewell+aerorun+running+shoes&k=8
--- response_body_unlike
"brand":"(Stridewell|Aerorun)".*"brand":"\1"
--- no_error_log
[error]



=== TEST 22: rating, margin and freshness weights show in explain
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile p {
        weight rating 0.5;
        weight margin 0.25;
        weight freshness 0.125;
        half_life 3650d;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile p;
    }
--- request
GET /recs?item=shoe-002&k=1&explain=1
--- response_body_like chomp
"rating":\{"value":0\.\d+,"weight":0\.5,"contribution":0\.\d+\},"margin":\{"value":0\.\d+,"weight":0\.25,"contribution":0\.\d+\},"freshness":\{"value":0\.\d+,"weight":0\.125,"contribution":0\.\d+\}
--- no_error_log
[error]
