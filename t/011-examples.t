# lua-free-examples/: every example has a README, uses the prefix layout
# the READMEs describe, passes nginx -t, and does what its README says
# when started (each on free loopback ports, from a temporary prefix).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use HTTP::Tiny;
use JSON::PP qw(decode_json);
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/browser", "$FindBin::Bin/lib";
use Examples;
use RecsysMock;
use RecsysRedis;

plan skip_all => "$Examples::MODULE not built" unless -f $Examples::MODULE;
plan skip_all => "no index at $Examples::INDEX"
    unless -f "$Examples::INDEX/manifest.json";
plan skip_all => "no nginx at $Examples::NGINX" unless -x $Examples::NGINX;

my $tmp = tempdir(CLEANUP => 1);
chmod 0755, $tmp;
my $http = HTTP::Tiny->new(timeout => 10);

my @names = Examples::names();
for my $want (qw(json-api storefront ab-test proxy-cache admin-overlay
                 redis-llm multi-edge)) {
    ok((grep { $_ eq $want } @names), "example $want exists");
}

# --- every example: README, prefix layout, nginx -t

for my $name (@names) {
    my $dir = "$Examples::REPO/lua-free-examples/$name";
    my $conf = Examples::slurp("$dir/nginx.conf");
    my $readme = Examples::slurp("$dir/README.md");

    ok length $readme, "$name: has a README.md";
    like $readme, qr{recsys-index build .*--out}, "$name: README builds an index";
    like $readme, qr{nginx -p \S+ -c \S*lua-free-examples/\Q$name\E/nginx\.conf},
        "$name: README starts it with nginx -p ... -c";

    like $conf, qr{^load_module modules/ngx_http_recsys_module\.so;$}m,
        "$name: loads the module from the prefix";
    like $conf, qr{^\s*recsys_index index;$}m,
        "$name: reads the index from the prefix";

    my $prefix = Examples::make_prefix($name, "$tmp/t-$name");
    my ($rc, $out) = Examples::test_conf($prefix, Examples::conf($name));
    is $rc, 0, "$name: nginx -t accepts it" or diag $out;
    like $out, qr/test is successful/, "$name: nginx -t says so";
}

# redis-llm's OpenAI location is a comment (its host is resolved when nginx
# loads the file): uncommented in place of the local one, with the host
# on loopback and a key file of its own, nginx -t accepts it too
{
    my $conf = Examples::slurp(Examples::conf('redis-llm'));
    my ($variant) = $conf =~ /^( +# location = \/_recsys_llm \{\n.*?^ +# \}\n)/ms;
    ok $variant, 'redis-llm: shows an OpenAI location';
    $variant =~ s/^( +)# ?/$1/mg;
    like $variant, qr/^\s+proxy_ssl_server_name on;/m,
        'redis-llm: with SNI for the hosted API';

    my $prefix = Examples::make_prefix('redis-llm', "$tmp/t-openai");
    open my $fh, '>', "$prefix/openai.key" or die "openai.key: $!";
    print $fh "sk-example\n";
    close $fh;

    $conf =~ s/^ +location = \/_recsys_llm \{\n.*?^ +\}\n/$variant/ms;
    $conf =~ s/server 127\.0\.0\.1:8000;/server 127.0.0.1:443;/;
    $conf =~ s{^(\s+)# (recsys_llm_api_key_file) \S+;}{$1$2 $prefix/openai.key;}m;
    open $fh, '>', "$prefix/openai.conf" or die "openai.conf: $!";
    print $fh $conf;
    close $fh;

    my ($rc, $out) = Examples::test_conf($prefix, "$prefix/openai.conf");
    is $rc, 0, 'redis-llm: nginx -t accepts the OpenAI variant' or diag $out;
    my @tls = $conf =~ /^\s+(proxy_pass https:|proxy_ssl_server_name on;|recsys_llm_api_key_file \/)/mg;
    is scalar @tls, 3, 'redis-llm: the variant tested is the TLS one, with a key';
}

# --- each example at work

sub get {
    my ($srv, $path, %opt) = @_;
    my $port = delete $opt{port} || $srv->{port};
    return $http->get("http://127.0.0.1:$port$path", \%opt);
}

sub header_list {
    my ($res, $name) = @_;
    my $v = $res->{headers}{$name};
    return ref $v ? @$v : defined $v ? ($v) : ();
}

# the access log is written after the answer: wait for the lines to land
sub log_lines {
    my ($file, $want) = @_;
    my @lines;
    my $deadline = time + 5;
    do {
        @lines = split /\n/, Examples::slurp($file);
        return @lines if @lines >= $want;
        sleep 0.05;
    } while (time < $deadline);
    return @lines;
}

# until $code returns true or 10 s passed: the last value
sub poll {
    my ($code) = @_;
    my $deadline = time + 10;
    my $v;
    until (($v = $code->()) || time > $deadline) {
        sleep 0.1;
    }
    return $v;
}

sub post {
    my ($srv, $path, $body) = @_;
    return $http->post("http://127.0.0.1:$srv->{port}$path",
                       { content => $body,
                         headers => { 'Content-Type' => 'application/json' } });
}

# run_example NAME => sub { my (@nodes) = @_; ... }, [nodes => N,]
# [ports => {...}, edit => sub {...}]: N copies of the example, each from
# its own prefix (Examples::start takes the other options)
sub run_example {
    my ($name, $code, %opt) = @_;
    my $nodes = delete $opt{nodes} || 1;
    subtest $name => sub {
        my @srv = map {
            Examples::start($name,
                            Examples::make_prefix($name, "$tmp/r-$name-$_"),
                            %opt)
        } 1 .. $nodes;
        $code->(@srv);
        for my $srv (@srv) {
            Examples::stop($srv);
            my $log = Examples::slurp("$srv->{prefix}/logs/error.log");
            unlike $log, qr/\[(?:alert|crit|emerg)\]/,
                'no alert in error.log' or diag $log;
        }
    };
}

run_example 'json-api' => sub {
    my ($srv) = @_;

    my $res = get($srv, '/recs?q=running+shoes&k=2');
    is $res->{status}, 200, '/recs answers';
    is $res->{headers}{'content-type'}, 'application/json; charset=utf-8',
        'as JSON';
    my $doc = decode_json($res->{content});
    is $doc->{count}, 2, 'with k items';
    like $doc->{items}[0]{category}, qr/^Shoes > /, 'that match the query';

    $res = get($srv, '/similar/shoe-002');
    is $res->{status}, 200, '/similar/ID answers';
    $doc = decode_json($res->{content});
    ok !(grep { $_->{id} eq 'shoe-002' } @{ $doc->{items} }),
        'without the item itself';

    $res = get($srv, '/recs?k=0');
    is $res->{status}, 400, 'a bad k is a 400';
    like $res->{content}, qr/"code":"invalid_k"/, 'with its code';

    is get($srv, '/healthz')->{content}, "ok\n", '/healthz';
};

run_example 'storefront' => sub {
    my ($srv) = @_;

    my $res = get($srv, '/');
    is $res->{status}, 200, 'the page answers';
    is $res->{headers}{'content-type'}, 'text/html; charset=utf-8',
        'as UTF-8 HTML';
    is $res->{headers}{'cache-control'}, 'no-cache',
        'which caches may keep only with revalidation';

    my $page = $res->{content};
    unlike $page, qr/<!--#/, 'no SSI directive is left in it';
    my @sections = $page =~ /<section class="recsys-carousel"/g;
    is scalar @sections, 3, 'the three SSI includes became carousels';
    my @cards = $page =~ /<li class="recsys-card" data-id="[^"]+">/g;
    is scalar @cards, 12, 'of four cards each';
    my @why = $page =~ /<p class="recsys-why">[^<]+<\/p>/g;
    is scalar @why, 3, 'each with its narrative';
    like $page, qr{<h2>For your kitchen</h2>\n<section class="recsys-carousel"},
        'in the place of the include';
    like $page, qr{<span class="recsys-price">\$12\.99</span>},
        'prices are rendered';
    like $page,
        qr{<span class="recsys-title">Test &lt;script&gt;alert\(1\)&lt;/script&gt; Mug</span>},
        'the planted title is escaped';
    unlike $page, qr{<script}i, 'and the page holds no script element';

    $res = get($srv, '/fragments/recs?q=tent&k=2');
    is $res->{status}, 200, 'a fragment on its own';
    is $res->{headers}{'cache-control'}, 'public, max-age=60',
        'carries recsys_cache_control';
    like $res->{headers}{etag}, qr{^W/"[0-9a-f]{16}"$}, 'and an ETag';

    $res = get($srv, '/fragments/similar/shoe-002');
    is $res->{status}, 200, 'a "more like this" fragment';
    like $res->{content}, qr/<li class="recsys-card" data-id="shoe-/,
        'has cards';
    unlike $res->{content}, qr/data-id="shoe-002"/, 'but not the item';
};

run_example 'ab-test' => sub {
    my ($srv) = @_;
    my %arm_of;

    for my $visitor (1 .. 30) {
        my $res = get($srv, '/recs?q=tent&k=2');
        my ($cookie) = map { /^(uid=[^;]+)/ ? $1 : () }
                       header_list($res, 'set-cookie');
        my ($arm) = header_list($res, 'x-recsys-profile');
        if ($visitor == 1) {
            is $res->{status}, 200, '/recs answers';
            ok $cookie, 'a first visit gets a uid cookie';
            like $arm, qr/^(?:control|margin_aware)$/, 'and an arm';
        }
        next unless $cookie && $arm;
        $arm_of{$cookie} = $arm;
    }

    my %seen = map { $_ => 1 } values %arm_of;
    is_deeply [sort keys %seen], [qw(control margin_aware)],
        '30 visitors land in both arms';

    my ($cookie) = sort keys %arm_of;
    my @again = map {
        scalar get($srv, '/recs?q=tent&k=2', headers => { Cookie => $cookie })
    } 1 .. 3;
    is_deeply [map { $_->{headers}{'x-recsys-profile'} } @again],
        [($arm_of{$cookie}) x 3], 'a returning visitor keeps the arm';
    ok !(grep { $_->{headers}{'set-cookie'} } @again),
        'and gets no new cookie';

    my @lines = log_lines("$srv->{prefix}/logs/ab.log", 33);
    is scalar @lines, 33, 'every answer is in ab.log';
    like $lines[-1],
        qr/"GET \/recs\?q=tent&k=2 HTTP\/1\.1" 200 uid=[0-9A-F]{32} arm=$arm_of{$cookie} items=\[[a-z0-9-]+,[a-z0-9-]+\] rt=/,
        'with the visitor, the arm and the items shown';

    # every answer showed 2 items: 66 exposures, split by arm (counted
    # when a request is logged: wait for the last one)
    my ($res, %exposures, $sum);
    my $deadline = time + 5;
    do {
        $res = get($srv, '/metrics');
        %exposures = $res->{content}
            =~ /^recsys_exposures_total\{variant="([^"]+)"\} (\d+)$/mg;
        $sum = 0;
        $sum += $_ for values %exposures;
    } while ($sum < 66 && time < $deadline && sleep 0.05);
    is $res->{status}, 200, '/metrics answers';
    is_deeply [sort keys %exposures], [qw(control margin_aware)],
        'exposures are counted for both arms';
    is $sum, 66, 'all of them';

    my $elsewhere = HTTP::Tiny->new(timeout => 10,
                                    local_address => '127.0.0.2');
    $res = $elsewhere->get("http://127.0.0.1:$srv->{port}/metrics");
    is $res->{status}, 403, '/metrics is for 127.0.0.1 only';
};

run_example 'proxy-cache' => sub {
    my ($srv) = @_;

    my @res = map { get($srv, '/fragments/recs?q=tent&k=2') } 1 .. 2;
    is $res[0]{status}, 200, 'the edge answers';
    like $res[0]{content}, qr/^<section class="recsys-carousel"/,
        'with the origin\'s carousel';
    is $res[0]{headers}{'x-cache-status'}, 'MISS', 'first from the origin';
    is $res[1]{headers}{'x-cache-status'}, 'HIT', 'then from the cache';
    is $res[1]{content}, $res[0]{content}, 'the same fragment';

    my $res = get($srv, '/fragments/recs?q=tent&k=3');
    is $res->{headers}{'x-cache-status'}, 'MISS',
        'other arguments are another key';

    $res = get($srv, '/fragments/recs?q=tent&k=2', port => $srv->{port2});
    is $res->{headers}{'cache-control'}, 'public, max-age=60',
        'the origin sets the lifetime';
    ok !exists $res->{headers}{'x-cache-status'}, 'and has no cache';
};

run_example 'admin-overlay' => sub {
    my ($srv) = @_;
    my $url = "http://127.0.0.1:$srv->{port}/admin/catalog";
    my $body = '{"id": "shoe-001", "price": 1.23, "stock": 5}';

    # another loopback address is not 127.0.0.1: it stands for the world
    my $res = HTTP::Tiny->new(timeout => 10, local_address => '127.0.0.2')
        ->post($url, { content => $body });
    is $res->{status}, 403, 'a patch from elsewhere is forbidden';

    $res = $http->post($url, { content => $body });
    is $res->{status}, 200, 'a patch from 127.0.0.1 is applied';
    like $res->{content}, qr/^\{"applied":1,"index_version":"[0-9a-f]{16}"\}/,
        'and counted';

    my $doc = decode_json(get($srv, '/recs?item=shoe-002&k=50')->{content});
    my ($item) = grep { $_->{id} eq 'shoe-001' } @{ $doc->{items} };
    is $item && $item->{price}, 1.23, 'the next answer has the new price';

    $res = get($srv, '/admin/catalog');
    is $res->{status}, 405, 'GET on the patch location is a 405';
};

# --- the examples with Redis and a model: real redis-servers and the mock
#     model server, on spare ports the examples' addresses are moved to

my $have_redis = eval { RecsysRedis::find_binary('REDIS_SERVER',
                                                 'redis-server'); 1 };

SKIP: {
    skip 'no redis-server', 2 unless $have_redis;

    my $redis = RecsysRedis->new->start;
    my $llm = RecsysMock->new->start;

    run_example 'redis-llm' => sub {
        my ($srv) = @_;

        my $res = get($srv, '/recs?q=tent&k=2');
        is $res->{status}, 200, '/recs answers';
        my $doc = decode_json($res->{content});
        is $doc->{count}, 2, 'with items';
        is $res->{headers}{'x-recsys-cache'}, 'MISS', 'computed';
        is $res->{headers}{'x-recsys-narrative'}, 'template',
            'async: the template narrative at once';
        is $doc->{narrative}{source}, 'template', 'in the answer too';

        # the call runs behind the answer: the narrative arrives with one
        # of the next requests for the same picks
        my $later = poll(sub {
            my $r = get($srv, '/recs?q=tent&k=2');
            return ($r->{headers}{'x-recsys-narrative'} // '') eq 'cache'
                   && $r;
        });
        ok $later, 'a later request gets the model\'s narrative, cached';
        is $later && $later->{headers}{'x-recsys-cache'}, 'HIT',
            'with the cached result';
        $doc = $later ? decode_json($later->{content}) : {};
        is $doc->{narrative}{source}, 'cache', 'the answer says so';
        ok $llm->count >= 1, 'the mock was called';
        my $req = $llm->last_request;
        is $req && $req->{request}{model}, 'qwen2.5-7b-instruct',
            'with recsys_llm_model';

        ok poll(sub { scalar(my @k = $redis->cli('KEYS',
                                                 'recsys:c:*:narrative:*')) }),
            'the narrative is in Redis for the other nodes';

        $res = get($srv, '/recs/sync?q=running+shoes&k=3');
        is $res->{status}, 200, '/recs/sync answers';
        is $res->{headers}{'x-recsys-narrative'}, 'llm',
            'with the model\'s narrative, waited for';
        like decode_json($res->{content})->{narrative}{summary}, qr/\S/,
            'a narrative with a summary';

        $res = post($srv, '/events',
                    '{"user":"u-1","item":"cook-001","type":"click"}');
        is $res->{status}, 202, 'an event is accepted';
        $res = get($srv, '/recs', headers => { Cookie => 'uid=u-1' });
        is $res->{status}, 200, 'the shopper\'s next answer';
        is $res->{headers}{'x-recsys-cache'}, 'BYPASS',
            'is ranked for them alone';
        $doc = decode_json($res->{content});
        is $doc->{strategy}, 'personal', 'from their history';
        ok !(grep { $_->{id} eq 'cook-001' } @{ $doc->{items} }),
            'without what they just saw';

        my $metrics = poll(sub {
            my $m = get($srv, '/metrics')->{content};
            return $m =~ /^recsys_cache_hits_total\{tier="shm"\} [1-9]/m
                   && $m;
        });
        like $metrics, qr/^recsys_llm_calls_total [2-9]/m,
            'model calls are counted';
        like $metrics, qr/^recsys_llm_successes_total [2-9]/m,
            'and the replies that passed';
        like $metrics, qr/^recsys_llm_seconds_count [2-9]/m,
            'and timed';

        my ($line) = grep { /cache=HIT narrative=cache / }
                     log_lines("$srv->{prefix}/logs/access.log", 5);
        ok $line, 'the access log has the cache status and the source'
            or diag Examples::slurp("$srv->{prefix}/logs/access.log");
    }, ports => { 6379 => $redis->port, 8000 => $llm->port };

    my $primary = RecsysRedis->new->start;
    my $replica = RecsysRedis->new(args => ['--replicaof', '127.0.0.1',
                                            $primary->port])->start;
    poll(sub { grep { /^master_link_status:up/ }
               $replica->cli('INFO', 'replication') })
        or BAIL_OUT('the replica did not synchronise');

    # the popularity refresh of every 30 s, every second for the test
    my $refresh = sub {
        $_[0] =~ s/recsys_popularity_refresh 30s/recsys_popularity_refresh 1s/
            or die "multi-edge: no recsys_popularity_refresh 30s\n";
    };

    run_example 'multi-edge' => sub {
        my ($a, $b) = @_;

        for my $srv ($a, $b) {
            is get($srv, '/healthz')->{content}, "ok\n", 'a node is up';
        }

        my $res = get($a, '/recs?q=tent&k=2');
        is $res->{status}, 200, 'node A answers';
        is $res->{headers}{'x-recsys-cache'}, 'MISS', 'computing the result';
        my $items = decode_json($res->{content})->{items};
        is scalar @$items, 2, 'with items';

        # written to the primary, replicated to the replica both nodes read
        ok poll(sub { scalar(my @k = $replica->cli('KEYS',
                                                   'recsys:c:*:result:*')) }),
            'the result reaches the replica';
        $res = get($b, '/recs?q=tent&k=2');
        is $res->{headers}{'x-recsys-cache'}, 'HIT',
            'node B finds it in Redis';
        is_deeply [map { $_->{id} } @{ decode_json($res->{content})->{items} }],
            [map { $_->{id} } @$items], 'the same answer';
        like get($b, '/metrics')->{content},
            qr/^recsys_cache_hits_total\{tier="redis"\} 1$/m,
            'a hit of the Redis tier';

        $res = post($a, '/events',
                    '{"user":"shopper-1","item":"cook-001","type":"click"}');
        is $res->{status}, 202, 'node A takes an event';
        is scalar(my @k = $primary->cli('KEYS', 'recsys:user:*:recent')), 1,
            'it is in the primary';

        my $doc = poll(sub {
            my $r = get($b, '/recs', headers => { Cookie => 'uid=shopper-1' });
            my $d = decode_json($r->{content});
            return $d->{strategy} eq 'personal' && $d;
        });
        ok $doc, 'node B personalises the shopper\'s next answer';
        ok $doc && !(grep { $_->{id} eq 'cook-001' } @{ $doc->{items} }),
            'without what they saw on node A';

        my $popularity = sub {
            my $d = decode_json(get($b,
                '/recs?q=wooden+train+set&k=1&explain=1')->{content});
            return $d->{items}[0]{id} eq 'toy-004'
                   && $d->{items}[0]{explain}{signals}{popularity}{value};
        };
        my $before = $popularity->();
        ok $before, 'node B ranks toy-004 with its popularity';
        $res = post($a, '/events', '[' . join(',', map {
            qq({"user":"p$_","item":"toy-004","type":"purchase"})
        } 1 .. 50) . ']');
        is $res->{status}, 202, 'node A takes 50 purchases';
        my $after = poll(sub {
            my $v = $popularity->();
            return $v && $v > $before && $v;
        });
        ok $after, "node B's popularity of toy-004 rises ("
                   . ($before // '?') . ' -> ' . ($after // '?') . ')';

        ok $replica->calls('zrevrange') >= 1, 'read from the replica';
        is $primary->calls('zrevrange'), 0, 'not from the primary';
        like join("\n", $replica->cli('INFO', 'stats')),
            qr/^total_error_replies:0\r?$/m, 'the replica refused nothing';
    }, nodes => 2, edit => $refresh,
       ports => { 6379 => $primary->port, 6380 => $replica->port };
}

done_testing;
