# A reload keeps the cache zone when its name and size stay the same (the
# master logs what it kept), and starts a new one when the size changes.
# nginx is reloaded with HUP between the blocks, as under
# TEST_NGINX_USE_HUP; the first block starts it.

use Test::Nginx::Socket;

repeat_each(1);
use_hup();
no_shuffle();

plan tests => repeat_each() * (blocks() * 3);

run_tests();

__DATA__

=== TEST 1: a new zone
--- http_config
    recsys_cache_zone recs:1m;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
entries kept



=== TEST 2: reloaded with the same zone: kept
--- http_config
    recsys_cache_zone recs:1m;
--- config
    location = /t {
        return 200 "reloaded\n";
    }
--- request
GET /t
--- response_body
reloaded
--- error_log
recsys_cache_zone "recs": 0 entries kept from the previous configuration



=== TEST 3: reloaded with another size: a new zone
--- http_config
    recsys_cache_zone recs:2m;
--- config
    location = /t {
        return 200 "resized\n";
    }
--- request
GET /t
--- response_body
resized
--- no_error_log
entries kept
