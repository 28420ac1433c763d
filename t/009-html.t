# HTML carousel fragments, format negotiation, caching headers, SSI and
# proxy_cache.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3 + 7);

no_long_string();
run_tests();

__DATA__

=== TEST 1: recsys_format html answers the built-in carousel
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
    }
--- request
GET /recs?q=running+shoes&k=2
--- response_headers
Content-Type: text/html; charset=utf-8
--- response_body_like eval
qr{^<section class="recsys-carousel" aria-label="Recommended for you" data-profile="default" data-index="[0-9a-f]{16}">
<p class="recsys-why">Picks for \xe2\x80\x9crunning shoes\xe2\x80\x9d: 2 items from [^<]+\.</p>
<ul class="recsys-items">
<li class="recsys-card" data-id="shoe-\d+">
<a class="recsys-link" href="https://shop\.example\.com/p/shoe-\d+"><img class="recsys-image" src="https://shop\.example\.com/img/shoe-\d+\.jpg" alt="" loading="lazy" width="160" height="160"><span class="recsys-title">[^<]+</span></a>
<span class="recsys-price">\$\d+\.\d\d</span>
<p class="recsys-reason">Running[^<]*</p>
</li>
<li class="recsys-card"}s
--- no_error_log
[error]



=== TEST 2: markup in catalogue data is escaped, never markup
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
    }
--- request
GET /recs?q=test+script+mug&k=1
--- response_body_like chomp
<span class="recsys-title">Test &lt;script&gt;alert\(1\)&lt;/script&gt; Mug</span>
--- no_error_log
[error]



=== TEST 3: the format argument overrides the location
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
    }
--- request
GET /recs?q=tent&k=1&format=json
--- response_headers
Content-Type: application/json; charset=utf-8
--- response_body_like chomp
^\{"query":"tent"
--- no_error_log
[error]



=== TEST 4: an Accept header asking for HTML only gets HTML
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=tent&k=1
--- more_headers
Accept: text/html,*/*;q=0.8
--- response_headers
Content-Type: text/html; charset=utf-8
Vary: Accept
--- no_error_log
[error]



=== TEST 5: a bad format argument is a 400
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=tent&format=xml
--- error_code: 400
--- response_body
{"error":{"code":"invalid_argument","message":"\"format\" must be json or html"}}
--- no_error_log
[error]



=== TEST 6: a template of the user's, with a partial beside it
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
        recsys_template $TEST_NGINX_SERVER_ROOT/html/carousel.mustache;
    }
--- user_files
>>> carousel.mustache
<ol>{{#items}}{{> card}}{{/items}}</ol>
>>> card.mustache
<li>{{title}} {{price_display}}</li>
--- request
GET /recs?item=shoe-002&k=1
--- response_body_like chomp
^<ol><li>[^<]+ \$\d+\.\d\d</li>\s*</ol>$
--- no_error_log
[error]



=== TEST 7: a template syntax error fails nginx -t with file and line
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_template $TEST_NGINX_SERVER_ROOT/html/broken.mustache;
    }
--- user_files
>>> broken.mustache
<ul>
{{#items}}<li>{{title}}</li>
</ul>
--- must_die
--- error_log eval
qr/recsys_template: \S+broken\.mustache:2: unclosed section "items"/



=== TEST 8: a missing partial fails nginx -t
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_template $TEST_NGINX_SERVER_ROOT/html/main.mustache;
    }
--- user_files
>>> main.mustache
{{> nowhere}}
--- must_die
--- error_log eval
qr/partial "nowhere" not found/



=== TEST 9: answers carry a weak ETag naming the item set
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
    }
--- request
GET /recs?q=tent&k=2
--- more_headers
If-None-Match: W/"0000000000000000"
--- response_headers_like
ETag: W/"[0-9a-f]{16}"
--- error_code: 200
--- no_error_log
[error]



=== TEST 10: If-None-Match that matches answers 304 with no body
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
    }
--- request
GET /recs?q=tent&k=2
--- more_headers
If-None-Match: *
--- error_code: 304
--- response_body
--- no_error_log
[error]



=== TEST 11: recsys_cache_control sets Cache-Control, Vary names what is read
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_cache_control "public, max-age=60";
        recsys_query $http_x_search;
        recsys_use_profile $cookie_ab;
    }
--- request
GET /recs?k=1
--- more_headers
X-Search: tent
--- response_headers
Cache-Control: public, max-age=60
Vary: Accept, X-Search, Cookie
--- no_error_log
[error]



=== TEST 12: an SSI include puts the carousel into a static page
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        recsys_format html;
    }
    location = /page.html {
        ssi on;
        root html;
    }
--- user_files
>>> page.html
<html><body><h1>Shop</h1>
<!--# include virtual="/recs?q=yoga+mat&k=2" -->
</body></html>
--- request
GET /page.html
--- response_body_like chomp
^<html><body><h1>Shop</h1>\n<section class="recsys-carousel".*<li class="recsys-card" data-id="yoga-\d+">.*</section>\n\n</body></html>
--- no_error_log
[error]



=== TEST 13: behind proxy_cache the second request is a cache hit
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/cache keys_zone=recs:1m;
--- config
    location = /recs {
        recsys;
        recsys_format html;
        recsys_cache_control "public, max-age=60";
    }
    location = /cached {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/recs?q=tent&k=1;
        proxy_cache recs;
        add_header X-Cache $upstream_cache_status;
    }
--- request eval
["GET /cached", "GET /cached"]
--- response_headers_like eval
["X-Cache: (?:MISS|HIT)", "X-Cache: HIT"]
--- response_body_like eval
['<section class="recsys-carousel"', '<section class="recsys-carousel"']
--- no_error_log
[error]
