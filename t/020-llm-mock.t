# The mock LLM server (t/mock-llm.pl, through t/lib/RecsysMock.pm) that
# the LLM suites stand on: HTTP keep-alive and closing as nginx's proxy
# expects, every marker's answer, the counters, the delays.  No nginx:
# plain sockets, so that a suite failing on the module is not the mock's
# fault.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use RecsysMock;

my $Json = JSON::PP->new->utf8->canonical;

my $Mock = RecsysMock->new(slow => 0.3, huge => 100000)->start;
my $Delayed = RecsysMock->new(delay => 0.4)->start;

# what the module sends: the built-in prompt's data block as user message
my @Items = (
    { id => 'SKU-1', title => 'Trail Runner', brand => 'Acme',
      price => 79.99, currency => 'USD', in_stock => JSON::PP::true },
    { id => 'SKU-2', title => "Caf\x{e9} Mug", brand => 'Hearth',
      price => 12.5, currency => 'EUR', in_stock => JSON::PP::false },
    { id => 'SKU-3', title => 'Road Racer', brand => 'Acme',
      price => 120, currency => 'USD', in_stock => undef },
);


sub chat_body {
    my ($query, $key) = @_;

    my $data = JSON::PP->new->canonical->encode({
        prompt_version => 'rs-llm-2', shopper_query => $query,
        ($key || 'items') => \@Items });

    return $Json->encode({ model => 'm', temperature => 0.2,
                           messages => [
                               { role => 'system', content => 'Rules.' },
                               { role => 'user', content => $data } ] });
}


sub connect_mock {
    my ($mock) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => ($mock || $Mock)->port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    return $s;
}


# one response off a connection: status, headers, body, and whether the
# connection was closed before the promised body
sub read_response {
    my ($s) = @_;

    my $buf = '';
    my $end;

    until (($end = index($buf, "\r\n\r\n")) >= 0) {
        my $n = sysread($s, $buf, 65536, length $buf);
        return { eof => 1 } unless $n;
    }

    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } @lines;
    my $body = substr($buf, $end + 4);
    my $short = 0;

    while (length($body) < $h{'content-length'}) {
        my $n = sysread($s, $body, 65536, length $body);
        unless ($n) { $short = 1; last }
    }

    my ($status) = $line =~ m{^HTTP/1\.1 (\d+)};

    return { status => $status, headers => \%h, body => $body,
             short => $short };
}


sub request {
    my ($s, $method, $path, $body, %h) = @_;

    $body = '' unless defined $body;
    my $version = delete $h{version} || '1.1';
    my $head = "$method $path HTTP/$version\r\nHost: localhost\r\n";
    $head .= "Content-Length: " . length($body) . "\r\n"
        if length $body && !$h{'Transfer-Encoding'};
    $head .= "$_: $h{$_}\r\n" for sort keys %h;

    print $s $head, "\r\n", $body;
}


sub chat {
    my ($query, %opt) = @_;

    my $s = connect_mock($opt{mock});
    request($s, 'POST', '/v1/chat/completions',
            chat_body($query, $opt{key}), Connection => 'close');
    my $r = read_response($s);
    close $s;

    return $r;
}


sub content {
    my ($r) = @_;
    return $Json->decode($r->{body})->{choices}[0]{message}{content};
}


sub narrative {
    my ($r) = @_;
    return JSON::PP->new->decode(content($r));
}


# --- HTTP

subtest 'keep-alive: two requests on one HTTP/1.1 connection' => sub {
    $Mock->reset;
    my $s = connect_mock();

    for my $q ('shoes', 'boots mock:close') {
        request($s, 'POST', '/v1/chat/completions', chat_body($q));
        my $r = read_response($s);
        is($r->{status}, 200, "answered: $q");
    }

    is($Mock->count, 2, 'two chat requests');
    is($Mock->connections, 1, 'on one connection');
    is($Mock->last_request->{nth}, 2, 'the second on it');

    # mock:close answered with Connection: close, then closed
    ok(read_response($s)->{eof}, 'closed after mock:close');
    close $s;
};

subtest 'Connection: close and HTTP/1.0' => sub {
    my $s = connect_mock();
    request($s, 'GET', '/health', undef, Connection => 'close');
    my $r = read_response($s);
    is($r->{headers}{connection}, 'close', 'Connection: close echoed');
    ok(read_response($s)->{eof}, 'then closed');
    close $s;

    $s = connect_mock();
    request($s, 'GET', '/health', undef, version => '1.0');
    is(read_response($s)->{status}, 200, 'HTTP/1.0 answered');
    ok(read_response($s)->{eof}, 'and closed by default');
    close $s;

    $s = connect_mock();
    request($s, 'GET', '/health', undef, version => '1.0',
            Connection => 'keep-alive');
    $r = read_response($s);
    is($r->{headers}{connection}, 'keep-alive', 'HTTP/1.0 keep-alive');
    request($s, 'GET', '/health', undef, version => '1.0');
    is(read_response($s)->{body}, "ok\n", 'a second request on it');
    close $s;
};

subtest 'chunked request body' => sub {
    my $body = chat_body('chunked shoes');
    my $chunked = sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
                          10, substr($body, 0, 10),
                          length($body) - 10, substr($body, 10));
    my $s = connect_mock();
    request($s, 'POST', '/v1/chat/completions', $chunked,
            'Transfer-Encoding' => 'chunked', Connection => 'close');
    my $r = read_response($s);
    close $s;

    is($r->{status}, 200, 'answered');
    like($Mock->last_request->{request}{messages}[1]{content},
         qr/chunked shoes/, 'the whole body was read');
};

# --- answers

subtest 'default: a narrative grounded in the data block' => sub {
    my $r = chat('trail shoes');
    my $env = $Json->decode($r->{body});
    my $n = narrative($r);

    is($r->{status}, 200, 'status 200');
    is($env->{object}, 'chat.completion', 'a chat completion');
    is($env->{model}, 'm', 'the model asked for');
    is($env->{choices}[0]{finish_reason}, 'stop', 'finished');
    is($env->{usage}{prompt_tokens},
       int(length(chat_body('trail shoes')) / 4), 'prompt tokens: bytes/4');
    is($env->{usage}{completion_tokens}, int(length(content($r)) / 4),
       'completion tokens: bytes/4');

    is($n->{summary}, '3 picks from Acme and Hearth, from 12.50 EUR.',
       'summary');
    is_deeply([map { $_->{id} } @{ $n->{items} }], [qw(SKU-1 SKU-2 SKU-3)],
              'the ids shown, in order');
    is($n->{items}[0]{reason}, 'Trail Runner, at 79.99 USD, in stock.',
       'an item in stock');
    is($n->{items}[1]{reason}, "Caf\x{e9} Mug, at 12.50 EUR.",
       'an item out of stock, UTF-8 kept');
    is($n->{items}[2]{reason}, 'Road Racer, at 120.00 USD.',
       'stock unknown');
};

subtest 'errors' => sub {
    my $r = chat('x mock:500');
    is($r->{status}, 500, 'mock:500');
    is($Json->decode($r->{body})->{error}{type}, 'server_error',
       'with an error object');

    $r = chat('x mock:429');
    is($r->{status}, 429, 'mock:429');
    is($r->{headers}{'retry-after'}, 7, 'with Retry-After');

    $r = chat('x mock:error200');
    is($r->{status}, 200, 'mock:error200');
    ok($Json->decode($r->{body})->{error}, 'an error in a 200');

    $r = chat('x mock:drop');
    ok($r->{eof}, 'mock:drop closes without an answer');

    $r = chat('x mock:badjson');
    ok(!eval { $Json->decode($r->{body}); 1 }, 'mock:badjson');

    $r = chat('x mock:truncated');
    ok($r->{short}, 'mock:truncated sends less than Content-Length');
    ok(length($r->{body}) > 0, 'but something');
};

subtest 'content the guardrails must catch' => sub {
    my $r = chat('x mock:prose');
    ok(!eval { narrative($r); 1 }, 'mock:prose: content not JSON');

    is(content(chat('x mock:empty')), '', 'mock:empty');

    $r = chat('x mock:length');
    is($Json->decode($r->{body})->{choices}[0]{finish_reason}, 'length',
       'mock:length: finish_reason');
    ok(!eval { narrative($r); 1 }, 'and content cut');

    my $n = narrative(chat('x mock:unknownid'));
    is($n->{items}[-1]{id}, 'SKU-NOT-SHOWN', 'mock:unknownid');

    $n = narrative(chat('x mock:wrongprice'));
    is($n->{summary}, 'Now only 12.51 EUR.', 'mock:wrongprice');

    $n = narrative(chat('x mock:instock'));
    like($n->{summary}, qr/in stock/, 'mock:instock');

    $n = narrative(chat('x mock:banned'));
    like($n->{summary}, qr/guaranteed/, 'mock:banned');

    $n = narrative(chat('x mock:link'));
    like($n->{items}[0]{reason}, qr{\]\(https://evil\.example/deal\)},
         'mock:link: a markdown link');
    like($n->{items}[0]{reason}, qr{ http://evil\.example/x }, 'a bare URL');

    $n = narrative(chat('x mock:script'));
    like($n->{summary}, qr{^<script>alert\(1\)</script>3 picks},
         'mock:script');
    like($n->{summary}, qr{<img src=x onerror=alert\(2\)>$}, 'and an img');

    $n = narrative(chat('x mock:inject'));
    like($n->{summary}, qr/^Ignore all previous instructions/,
         'mock:inject: instructions');
    like($n->{summary}, qr{<a href="javascript:alert\(1\)">}, 'a js link');
    like($n->{summary}, qr{<iframe }, 'an iframe');

    $r = chat('x mock:huge');
    ok(length(content($r)) > 100000, 'mock:huge: over --huge bytes');
    is(narrative($r)->{items}[0]{id}, 'SKU-1', 'still a valid narrative');
};

subtest 'content the parser must dig out' => sub {
    my $c = content(chat('x mock:fenced'));
    like($c, qr/^Here you go:\n```json\n\{.*\}\n```\nEnjoy!$/s,
         'mock:fenced');

    $c = content(chat('x mock:think'));
    like($c, qr/^<think>[^\n]*<\/think>\n\{"items"/, 'mock:think');
};

subtest 'rerank' => sub {
    my $o = narrative(chat('x', key => 'candidates'));
    is_deeply($o->{order}, [qw(SKU-3 SKU-2 SKU-1)], 'reversed');

    $o = narrative(chat('x mock:unknownid', key => 'candidates'));
    is($o->{order}[0], 'SKU-NOT-A-CANDIDATE', 'mock:unknownid');

    $o = narrative(chat('x mock:dupid', key => 'candidates'));
    is_deeply($o->{order}, [qw(SKU-3 SKU-2 SKU-1 SKU-3)], 'mock:dupid');

    $o = narrative(chat('x mock:partial', key => 'candidates'));
    is_deeply($o->{order}, ['SKU-3'], 'mock:partial');
};

# --- delays: lower bounds only, the machine may be slower

subtest 'delays' => sub {
    my $t = time;
    is(chat('x mock:slow')->{status}, 200, 'mock:slow answers');
    cmp_ok(time - $t, '>=', 0.3, 'after --slow');

    $t = time;
    is(chat('x', mock => $Delayed)->{status}, 200, '--delay answers');
    cmp_ok(time - $t, '>=', 0.4, 'after --delay');
};

# --- counters

subtest 'counters and the test endpoints' => sub {
    $Mock->reset;
    is($Mock->count, 0, 'reset');

    my $s = connect_mock();
    request($s, 'POST', '/v1/chat/completions', chat_body('a mock:slow'),
            Authorization => 'Bearer sk-test');
    read_response($s);
    request($s, 'POST', '/chat/completions', chat_body('b mock:Slow'));
    read_response($s);
    request($s, 'POST', '/v1/chat/completions', chat_body('c'));
    read_response($s);

    request($s, 'GET', '/_stats');
    my $st = $Json->decode(read_response($s)->{body});
    is_deeply($st, { chat => 3, connections => 1,
                     markers => { slow => 2, default => 1 } }, '/_stats');

    is($Mock->count('slow'), 2, 'count by marker');
    is(($Mock->requests)[0]{authorization}, 'Bearer sk-test',
       'the Authorization header is logged');

    request($s, 'GET', '/_last');
    my $last = $Json->decode(read_response($s)->{body});
    is($last->{nth}, 3, '/_last');
    like($last->{request}{messages}[1]{content}, qr/"shopper_query":"c"/,
         'with the request');

    request($s, 'GET', '/v1/models');
    is($Json->decode(read_response($s)->{body})->{data}[0]{id}, 'mock',
       '/v1/models');

    request($s, 'GET', '/v1/nope');
    is(read_response($s)->{status}, 404, 'unknown path');

    request($s, 'GET', '/v1/chat/completions');
    is(read_response($s)->{status}, 405, 'GET on chat');

    request($s, 'POST', '/v1/chat/completions', 'nope');
    is(read_response($s)->{status}, 400, 'a body that is not JSON');

    request($s, 'POST', '/_reset', undef, Connection => 'close');
    is(read_response($s)->{status}, 200, '/_reset');
    close $s;
    is($Mock->count, 0, 'emptied the log');
};

subtest 'stop' => sub {
    my $port = $Delayed->port;
    $Delayed->stop;
    ok(!$Delayed->running, 'stopped');
    ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp'),
       'nothing listens any more');
};

done_testing();
