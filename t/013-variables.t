# Variables for the access log and other modules.

use Test::Nginx::Socket;
use Cwd qw(cwd);

$ENV{TEST_NGINX_INDEX} ||= cwd() . '/build/t-index';

repeat_each(2);

plan tests => repeat_each() * (blocks() * 3 + 3);

no_long_string();
run_tests();

__DATA__

=== TEST 1: what the answer decided, known by the time headers go out
--- http_config
    recsys_index $TEST_NGINX_INDEX;
    recsys_profile summer {
        weight popularity 0.3;
    }
--- config
    location = /recs {
        recsys;
        recsys_use_profile summer;
        add_header X-Items $recsys_items;
        add_header X-Variant $recsys_variant;
        add_header X-Narrative $recsys_narrative_source;
        add_header X-Stages "$recsys_parse_ms $recsys_embed_ms $recsys_retrieve_ms $recsys_rank_ms";
    }
--- request
GET /recs?item=cm-001&k=2
--- response_headers_like
X-Items: cm-00[234],cm-00[234]
X-Variant: summer
X-Narrative: template
X-Stages: \d+\.\d{3} \d+\.\d{3} \d+\.\d{3} \d+\.\d{3}
--- no_error_log
[error]



=== TEST 2: a rejected request has no items and no narrative
--- http_config
    recsys_index $TEST_NGINX_INDEX;
--- config
    location = /recs {
        recsys;
        add_header X-Items "[$recsys_items]" always;
        add_header X-Narrative "[$recsys_narrative_source]" always;
    }
--- request
GET /recs?k=0
--- response_headers
X-Items: []
X-Narrative: []
--- error_code: 400



=== TEST 3: the variables are empty outside recsys locations
--- config
    location = /plain {
        return 200 "[$recsys_items][$recsys_took_ms]\n";
    }
--- request
GET /plain
--- response_body
[][]
--- no_error_log
[error]
