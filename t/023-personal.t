# Personalisation's configuration: "recsys_personalize" and the history
# directives, checked when nginx starts.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';
$ENV{TEST_NGINX_SALT} = 'test-salt-0123456789';

repeat_each(1);
no_shuffle();

# must_die blocks count 2; TEST 6 a status, a body and a no_error_log
plan tests => 5 * 2 + 3;

run_tests();

__DATA__

=== TEST 1: recsys_personalize needs recsys_redis
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_personalize on;
    }
--- must_die
--- error_log
"recsys_personalize" needs a "recsys_redis" in the http block



=== TEST 2: ... and recsys_user_salt
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:6379;
--- config
    recsys_personalize on;

    location = /recs {
        recsys;
    }
--- must_die
--- error_log
"recsys_personalize" needs a "recsys_user_salt" in the http block



=== TEST 3: recsys_history_weight is from 0 to 1
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_history_weight 1.5;
    }
--- must_die
--- error_log
invalid value "1.5", it must be a number from 0 to 1



=== TEST 4: recsys_history_length is at most the 50 items the events keep
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_history_length 51;
    }
--- must_die
--- error_log
invalid value "51" in "recsys_history_length" directive, it must be a number from 1 to 50



=== TEST 5: recsys_history_exclude is on or off
--- config
    location = /recs {
        recsys_index $TEST_NGINX_INDEX;
        recsys;
        recsys_history_exclude sometimes;
    }
--- must_die
--- error_log
invalid value "sometimes" in "recsys_history_exclude" directive, it must be "on" or "off"



=== TEST 6: a personalised location with its settings starts and answers
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_redis 127.0.0.1:6379;
    recsys_user_salt $TEST_NGINX_SALT;
--- config
    location = /recs {
        recsys;
        recsys_personalize on;
        recsys_history_weight 0.5;
        recsys_history_length 10;
        recsys_history_exclude off;
    }
--- request
GET /recs?q=running+shoes
--- response_body_like: "items":\[\{"id":"shoe-
--- no_error_log
[error]
